//! The `command` tool: runs an external program as a child process with
//! resource limits (CPU seconds, address space, file size, open files,
//! processes), an empty environment unless the node gives one, a temporary
//! working directory of its own, bounded captured output, and a timeout
//! that ends its whole process group (SIGTERM, then SIGKILL).
//!
//! Only programs the operator allows run: `ICE_COMMAND_ALLOW` lists them
//! (names or absolute paths, comma-separated; `*` allows any). Under root
//! the program runs as the user `nobody`, so that the process limit holds
//! (root is exempt from it).

use async_trait::async_trait;
use ice_orchestrator::tool::{arg, u64_arg};
use ice_orchestrator::{ErrorKind, NodeError, Tool, ToolContext};
use serde_json::{json, Map, Value};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// How long a program has between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(1);
/// How long output is still read after the program ended.
const DRAIN: Duration = Duration::from_millis(500);

/// Which programs may run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandPolicy {
    /// Program names or absolute paths; `*` allows any.
    pub allow: Vec<String>,
}

impl CommandPolicy {
    /// The policy of `ICE_COMMAND_ALLOW` (nothing allowed when unset).
    pub fn from_env() -> Self {
        let allow = std::env::var("ICE_COMMAND_ALLOW").unwrap_or_default();
        CommandPolicy {
            allow: allow
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        }
    }

    fn allows(&self, program: &str, resolved: &Path) -> bool {
        self.allow
            .iter()
            .any(|a| a == "*" || a == program || Path::new(a) == resolved)
    }
}

/// The `command` tool.
pub struct CommandTool {
    policy: CommandPolicy,
}

impl CommandTool {
    /// A `command` tool that runs the programs `policy` allows.
    pub fn new(policy: CommandPolicy) -> Self {
        CommandTool { policy }
    }
}

/// The limits of one run, from the node's arguments.
#[derive(Debug, Clone, Copy)]
struct Limits {
    timeout: Duration,
    cpu_seconds: u64,
    memory_bytes: u64,
    file_size_bytes: u64,
    open_files: u64,
    processes: u64,
    output_bytes: usize,
}

impl Limits {
    fn from_args(args: &Value) -> Result<Self, NodeError> {
        let timeout = match args.get("timeout_seconds") {
            None | Some(Value::Null) => 30.0,
            Some(v) => v.as_f64().filter(|s| *s > 0.0).ok_or_else(|| {
                NodeError::validation(format!(
                    "argument `timeout_seconds` must be a positive number, got {v}"
                ))
            })?,
        };
        let or = |name, default| Ok::<u64, NodeError>(u64_arg(args, name)?.unwrap_or(default));
        Ok(Limits {
            timeout: Duration::from_secs_f64(timeout),
            cpu_seconds: or("cpu_seconds", timeout.ceil() as u64)?.max(1),
            memory_bytes: or("memory_mb", 512)? << 20,
            file_size_bytes: or("file_size_mb", 16)? << 20,
            open_files: or("open_files", 64)?.max(3),
            processes: or("max_processes", 32)?.max(1),
            output_bytes: usize::try_from(or("output_bytes", 1 << 20)?).unwrap_or(usize::MAX),
        })
    }
}

#[async_trait]
impl Tool for CommandTool {
    fn name(&self) -> &str {
        "command"
    }

    fn description(&self) -> &str {
        "Runs an allowed external program (ICE_COMMAND_ALLOW) with resource limits, an empty environment and a temporary working directory."
    }

    fn input_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "command": {"description": "the program, or the program and its arguments", "type": ["string", "array"]},
                "args": {"type": "array", "items": {"type": "string"}},
                "stdin": {"type": "string"},
                "env": {"type": "object", "additionalProperties": {"type": "string"}},
                "timeout_seconds": {"type": "number", "default": 30},
                "cpu_seconds": {"type": "integer", "description": "default: the timeout"},
                "memory_mb": {"type": "integer", "default": 512},
                "file_size_mb": {"type": "integer", "default": 16},
                "open_files": {"type": "integer", "default": 64},
                "max_processes": {"type": "integer", "default": 32},
                "output_bytes": {"type": "integer", "default": 1048576, "description": "per stream"},
                "check": {"type": "boolean", "default": true, "description": "fail the node on a non-zero exit"}
            },
            "required": ["command"]
        })
    }

    fn output_schema(&self) -> Value {
        json!({
            "type": "object",
            "properties": {
                "exit_code": {"type": ["integer", "null"]},
                "signal": {"type": ["integer", "null"]},
                "stdout": {"type": "string"},
                "stderr": {"type": "string"},
                "truncated": {"type": "boolean"},
                "duration_ms": {"type": "number"}
            }
        })
    }

    async fn call(&self, args: Value, ctx: &ToolContext<'_>) -> Result<Value, NodeError> {
        let argv = command_line(&args)?;
        let resolved = resolve(&argv[0])?;
        if !self.policy.allows(&argv[0], &resolved) {
            return Err(NodeError::validation(format!(
                "the program `{}` is not allowed: add it to ICE_COMMAND_ALLOW",
                argv[0]
            )));
        }
        let limits = Limits::from_args(&args)?;
        let env = environment(&args)?;
        let stdin = match args.get("stdin") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone().into_bytes()),
            Some(other) => {
                return Err(NodeError::validation(format!(
                    "argument `stdin` must be a string, got {other}"
                )))
            }
        };
        let check = args.get("check").and_then(Value::as_bool).unwrap_or(true);
        let run = run_program(&resolved, &argv[1..], env, stdin, limits, ctx).await?;
        if check && run["exit_code"] != json!(0) {
            let how = match (run["exit_code"].as_i64(), run["signal"].as_i64()) {
                (Some(code), _) => format!("exited with status {code}"),
                (None, Some(signal)) => format!("was killed by {}", signal_name(signal)),
                _ => "ended abnormally".into(),
            };
            let stderr = run["stderr"].as_str().unwrap_or_default().trim();
            return Err(NodeError::tool(
                format!("`{}` {how}: {}", argv[0], tail(stderr, 2000)),
                false,
            ));
        }
        Ok(run)
    }
}

/// The program and its arguments.
fn command_line(args: &Value) -> Result<Vec<String>, NodeError> {
    let strings = |v: &Value, name: &str| -> Result<Vec<String>, NodeError> {
        v.as_array()
            .and_then(|a| a.iter().map(|s| s.as_str().map(String::from)).collect())
            .ok_or_else(|| {
                NodeError::validation(format!("argument `{name}` must be a list of strings"))
            })
    };
    let mut argv = match arg(args, "command")? {
        Value::String(program) => vec![program.clone()],
        list @ Value::Array(_) => strings(list, "command")?,
        other => {
            return Err(NodeError::validation(format!(
                "argument `command` must be a string or a list of strings, got {other}"
            )))
        }
    };
    if let Some(extra) = args.get("args").filter(|v| !v.is_null()) {
        argv.extend(strings(extra, "args")?);
    }
    match argv.first() {
        Some(program) if !program.is_empty() => Ok(argv),
        _ => Err(NodeError::validation("argument `command` names no program")),
    }
}

/// The program's absolute path: as given when it has a `/`, else from
/// `PATH`.
fn resolve(program: &str) -> Result<PathBuf, NodeError> {
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .ok_or_else(|| NodeError::validation(format!("no program `{program}` on the PATH")))
}

fn environment(args: &Value) -> Result<Vec<(String, String)>, NodeError> {
    match args.get("env") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => Ok(map
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), value)
            })
            .collect()),
        Some(other) => Err(NodeError::validation(format!(
            "argument `env` must be an object, got {other}"
        ))),
    }
}

/// Kills a process group when dropped (the node abandoned or finished).
struct GroupGuard(i32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        signal_group(self.0, libc::SIGKILL);
    }
}

fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory
    // is involved.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

async fn run_program(
    program: &Path,
    args: &[String],
    env: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
    limits: Limits,
    ctx: &ToolContext<'_>,
) -> Result<Value, NodeError> {
    let internal =
        |what: &str, e: std::io::Error| NodeError::new(ErrorKind::Internal, format!("{what}: {e}"));
    let workdir = tempfile::Builder::new()
        .prefix("ice-command-")
        .tempdir()
        .map_err(|e| internal("cannot make a working directory", e))?;
    let user = unprivileged_user();
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(workdir.path(), Some(uid), Some(gid))
            .map_err(|e| internal("cannot hand the working directory over", e))?;
    }
    let uid = user.map_or_else(real_uid, |(uid, _)| uid);
    let processes = processes_of(uid) + limits.processes;
    let mut command = std::process::Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(env)
        .current_dir(workdir.path())
        .process_group(0)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some((uid, gid)) = user {
        command.uid(uid).gid(gid);
    }
    // The CPU limit's hard bound is a second above the soft one, so that
    // SIGXCPU (which names the limit) comes before SIGKILL.
    let rlimits = [
        (libc::RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + 1),
        (libc::RLIMIT_AS, limits.memory_bytes, limits.memory_bytes),
        (
            libc::RLIMIT_FSIZE,
            limits.file_size_bytes,
            limits.file_size_bytes,
        ),
        (libc::RLIMIT_NOFILE, limits.open_files, limits.open_files),
        (libc::RLIMIT_NPROC, processes, processes),
        (libc::RLIMIT_CORE, 0, 0),
    ];
    // SAFETY: the closure runs in the child between fork and exec and only
    // calls setrlimit(2), which is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            for (resource, soft, hard) in rlimits {
                let limit = libc::rlimit {
                    rlim_cur: soft as libc::rlim_t,
                    rlim_max: hard as libc::rlim_t,
                };
                if libc::setrlimit(resource, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let mut child = tokio::process::Command::from(command)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            NodeError::tool(format!("cannot start `{}`: {e}", program.display()), false)
        })?;
    let pgid = child.id().map(|id| id as i32).unwrap_or_default();
    let _group = GroupGuard(pgid);
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        tokio::spawn(async move {
            let _ = pipe.write_all(&bytes).await;
        });
    }
    let stdout = tokio::spawn(read_bounded(child.stdout.take(), limits.output_bytes));
    let stderr = tokio::spawn(read_bounded(child.stderr.take(), limits.output_bytes));
    let status = tokio::select! {
        status = child.wait() => Some(status.map_err(|e| internal("waiting for the program", e))?),
        _ = tokio::time::sleep(limits.timeout) => None,
        _ = ctx.cancel.cancelled() => {
            signal_group(pgid, libc::SIGKILL);
            return Err(NodeError::new(ErrorKind::Cancelled, "cancelled"));
        }
    };
    let Some(status) = status else {
        signal_group(pgid, libc::SIGTERM);
        if tokio::time::timeout(KILL_GRACE, child.wait())
            .await
            .is_err()
        {
            signal_group(pgid, libc::SIGKILL);
            let _ = child.wait().await;
        }
        return Err(NodeError::new(
            ErrorKind::Timeout,
            format!(
                "`{}` timed out after {}s; its process group was killed",
                program.display(),
                limits.timeout.as_secs_f64()
            ),
        ));
    };
    // What the program left running goes with it.
    signal_group(pgid, libc::SIGKILL);
    let (stdout, out_cut) = drained(stdout).await;
    let (stderr, err_cut) = drained(stderr).await;
    use std::os::unix::process::ExitStatusExt;
    let mut result = Map::new();
    result.insert("exit_code".into(), json!(status.code()));
    result.insert("signal".into(), json!(status.signal()));
    result.insert("stdout".into(), json!(stdout));
    result.insert("stderr".into(), json!(stderr));
    result.insert("truncated".into(), json!(out_cut || err_cut));
    result.insert(
        "duration_ms".into(),
        json!(started.elapsed().as_secs_f64() * 1000.0),
    );
    Ok(Value::Object(result))
}

/// The text a reader collected, waiting a little for pipes that a leftover
/// process may still hold.
async fn drained(reader: tokio::task::JoinHandle<(Vec<u8>, bool)>) -> (String, bool) {
    match tokio::time::timeout(DRAIN, reader).await {
        Ok(Ok((bytes, cut))) => (String::from_utf8_lossy(&bytes).into_owned(), cut),
        _ => (String::new(), true),
    }
}

/// Reads a pipe to its end, keeping the first `limit` bytes.
async fn read_bounded(pipe: Option<impl AsyncRead + Unpin>, limit: usize) -> (Vec<u8>, bool) {
    let Some(mut pipe) = pipe else {
        return (Vec::new(), false);
    };
    let mut kept = Vec::new();
    let mut cut = false;
    let mut buf = [0u8; 8192];
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let room = limit.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
        cut |= n > room;
    }
    (kept, cut)
}

/// Under root: the uid and gid of `nobody`, which programs run as.
/// (Looked up once per process.)
fn unprivileged_user() -> Option<(u32, u32)> {
    static USER: std::sync::OnceLock<Option<(u32, u32)>> = std::sync::OnceLock::new();
    *USER.get_or_init(|| {
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let nobody = passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.first() == Some(&"nobody") && f.len() > 3)
            .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)));
        Some(nobody.unwrap_or((65534, 65534)))
    })
}

fn real_uid() -> u32 {
    // SAFETY: getuid(2) has no preconditions.
    unsafe { libc::getuid() }
}

/// How many processes a user has now (the process limit counts them all).
fn processes_of(uid: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let uid = uid.to_string();
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read_to_string(e.path().join("status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find(|l| l.starts_with("Uid:"))
                        .and_then(|l| l.split_whitespace().nth(1).map(|u| u == uid))
                })
                .unwrap_or(false)
        })
        .count() as u64
}

/// A signal's number and what it means here.
fn signal_name(signal: i64) -> String {
    let meaning = match signal as i32 {
        libc::SIGXCPU => " (SIGXCPU: the CPU time limit `cpu_seconds` was reached)",
        libc::SIGXFSZ => " (SIGXFSZ: the file size limit `file_size_mb` was reached)",
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGSEGV => " (SIGSEGV)",
        _ => "",
    };
    format!("signal {signal}{meaning}")
}

/// The last `max` characters of a text.
fn tail(text: &str, max: usize) -> &str {
    let skip = text.chars().count().saturating_sub(max);
    text.char_indices()
        .nth(skip)
        .map_or(text, |(i, _)| &text[i..])
}
