# The prelude of Python code nodes. It may start before there is a request:
# it waits on stdin for the request (marker, code, ctx, imports) as a
# Python literal (an empty stdin ends it), runs the code in a fresh
# namespace, and writes the result record (JSON) after the marker on
# stdout. It imports nothing heavy itself, so that start-up stays short:
# the request is a literal, and the record is encoded here.
import os
import sys

_ICE_ESCAPES = {c: "\\u%04x" % c for c in [*range(0x20), *range(0xD800, 0xE000)]}
_ICE_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\", ord("\n"): "\\n", ord("\t"): "\\t"})


def _ice_string(text):
    return '"' + text.translate(_ICE_ESCAPES) + '"'


def _ice_key(key):
    if isinstance(key, str):
        return _ice_string(key)
    if key is True or key is False or key is None:
        return _ice_string(_ice_json(key))
    if isinstance(key, (int, float)):
        return _ice_string(_ice_json(key))
    raise TypeError("keys must be str, int, float, bool or None, not %s" % type(key).__name__)


def _ice_json(value):
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("Out of range float values are not JSON compliant: %r" % value)
        return float.__repr__(value)
    if isinstance(value, str):
        return _ice_string(value)
    if isinstance(value, dict):
        return "{" + ",".join(_ice_key(k) + ":" + _ice_json(v) for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_ice_json(v) for v in value) + "]"
    raise TypeError("Object of type %s is not JSON serializable" % type(value).__name__)


def _ice_traceback(error):
    import traceback

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
    # The first compilation pays a one-time set-up of the compiler: pay it
    # before the request arrives.
    compile("def _ice_warm(x):\n    return {'x': [x]}\n", "<warm>", "exec")
    text = sys.stdin.read()
    if not text:
        return
    request = eval(text, {"__builtins__": {}})
    marker = request.pop("marker")
    namespace = {"__name__": "__main__", "ctx": request["ctx"]}
    try:
        output = _ice_execute(request, namespace)
        try:
            record = '{"ok":true,"output":' + _ice_json(output) + "}"
        except (TypeError, ValueError, RecursionError) as error:
            record = _ice_json({"ok": False, "error": "the output is not JSON: %s" % error})
    except SystemExit as error:
        record = _ice_json({"ok": False, "error": _ice_describe(error)})
    except BaseException as error:
        record = _ice_json(
            {"ok": False, "error": _ice_describe(error), "traceback": _ice_traceback(error)}
        )
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(1, (marker + record).encode())
    # The interpreter is thrown away: skip its finalisation.
    os._exit(0)


_ice_run()
