# The prelude of Python code nodes. It reads the request (code, ctx,
# imports, marker) from stdin, runs the code in a fresh namespace, and
# writes the result record after the marker on stdout.
import json
import os
import sys
import traceback


def _ice_traceback(error):
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != "<code>":
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb)).rstrip()


def _ice_describe(error):
    if isinstance(error, SystemExit):
        return "the code called sys.exit(%r)" % (error.code,)
    text = str(error)
    return type(error).__name__ + (": " + text if text else "")


def _ice_execute(request, namespace):
    for spec in request["imports"]:
        if spec.startswith(("import ", "from ")):
            exec(spec, namespace)
        else:
            namespace[spec.split(".")[0]] = __import__(spec)
    exec(compile(request["code"], "<code>", "exec"), namespace)
    main = namespace.get("main")
    if callable(main):
        return main(namespace["ctx"])
    if "output" in namespace:
        return namespace["output"]
    raise RuntimeError("the code neither defines main(ctx) nor assigns output")


def _ice_run():
    request = json.loads(sys.stdin.read())
    marker = request.pop("marker")
    namespace = {"__name__": "__main__", "ctx": request["ctx"]}
    try:
        output = _ice_execute(request, namespace)
        try:
            record = json.dumps({"ok": True, "output": output}, allow_nan=False)
        except (TypeError, ValueError) as error:
            record = json.dumps({"ok": False, "error": "the output is not JSON: %s" % error})
    except SystemExit as error:
        record = json.dumps({"ok": False, "error": _ice_describe(error)})
    except BaseException as error:
        record = json.dumps(
            {"ok": False, "error": _ice_describe(error), "traceback": _ice_traceback(error)}
        )
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(1, (marker + record).encode())


_ice_run()
