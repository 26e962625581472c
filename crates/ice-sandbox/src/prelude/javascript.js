// The prelude of JavaScript code nodes. The host puts the marker, the
// context and the code (as JSON literals) in place of the three names
// below; the code runs as the body of a function of `ctx`, and the result
// record goes after the marker on stdout.
(() => {
  const marker = ICE_MARKER;
  const ctx = ICE_CTX;
  const code = ICE_CODE;
  const write = console.log;
  const epilogue =
    "\n;if (typeof main === 'function') return main(ctx);" +
    "\nif (typeof output !== 'undefined') return output;" +
    "\nthrow new Error('the code neither defines main(ctx) nor assigns output');";
  let record;
  try {
    const value = new Function("ctx", code + epilogue)(ctx);
    try {
      const text = JSON.stringify(value === undefined ? null : value);
      record = '{"ok":true,"output":' + text + "}";
    } catch (error) {
      record = JSON.stringify({ ok: false, error: "the output is not JSON: " + error });
    }
  } catch (error) {
    const stack = error && error.stack ? String(error.stack).trimEnd() : "";
    record = JSON.stringify({
      ok: false,
      error: String(error),
      traceback: stack ? String(error) + "\n" + stack : "",
    });
  }
  write(marker + record);
})();
