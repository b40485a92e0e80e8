//! What every local server xtask runs has in common (DynamoDB Local, moto): a process of ours on
//! a loopback port, its pid and port recorded under `target/` so that `stop` ends exactly the
//! process `start` started, reused while it runs and answers, replaced when it is gone, and an
//! endpoint in an environment variable that means "use that one and start nothing".

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use crate::Result;
use crate::paths::target_dir;

/// A kind of local server. The provided methods are the `start | stop | status` commands and
/// what `test` and `demo` use; a server only says what is particular to it.
pub(crate) trait LocalServer {
    /// For messages: `DynamoDB Local`.
    const NAME: &'static str;
    /// For the lines that say what is starting or running, with the version.
    const NAME_VERSION: &'static str;
    /// The xtask subcommand: `cargo xtask <COMMAND> start`.
    const COMMAND: &'static str;
    /// The environment variable naming an endpoint to use instead of starting one: the one the
    /// AWS SDKs read (`AWS_ENDPOINT_URL_<SERVICE>`), so the clients of a child process find it.
    const ENDPOINT_ENV: &'static str;
    /// Further variables a child process gets set to the same endpoint (other services the
    /// server speaks).
    const ALSO_SETS: &'static [&'static str] = &[];
    /// The port tried first; when it is taken, a free one is chosen.
    const DEFAULT_PORT: u16;
    /// How long a fresh server gets to answer its first request.
    const START_TIMEOUT: Duration;
    /// The folder under `target/` that holds the state file, the log and any download.
    const STATE_DIR: &'static str;

    /// True when a process with this command line is a server of this kind on `port`.
    fn is_ours(args: &[String], port: u16) -> bool;

    /// Makes one real request to `endpoint`; the error says what failed.
    fn check(endpoint: &str) -> Result<()>;

    /// What [`LocalServer::install`] found or made: the program to run and its files.
    type Installed;

    /// Checks the tools the server needs and fetches or installs it (once).
    fn install() -> Result<Self::Installed>;

    /// The command that serves on `127.0.0.1:port`.
    fn command(installed: &Self::Installed, port: u16) -> Command;

    fn state_dir() -> PathBuf {
        target_dir().join(Self::STATE_DIR)
    }

    fn state_file() -> PathBuf {
        Self::state_dir().join("server.state")
    }

    /// The endpoint variable, when set and not empty.
    fn external_endpoint() -> Option<String> {
        std::env::var(Self::ENDPOINT_ENV)
            .ok()
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// `cargo xtask <COMMAND> start [--port N]`.
    fn start_command(port: Option<u16>) -> Result<ExitCode> {
        let started = Self::start(port)?;
        if !matches!(started, Started::External(_)) {
            println!(
                "to use it from `cargo test`: export {}={}",
                Self::ENDPOINT_ENV,
                started.endpoint()
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    /// `cargo xtask <COMMAND> stop`.
    fn stop_command() -> Result<ExitCode> {
        match Self::read_state()? {
            None => println!(
                "{}: nothing to stop (no server was started by xtask)",
                Self::NAME
            ),
            Some(server) => Self::stop(server)?,
        }
        Ok(ExitCode::SUCCESS)
    }

    /// `cargo xtask <COMMAND> status`.
    fn status_command() -> Result<ExitCode> {
        if let Some(endpoint) = Self::external_endpoint() {
            let answer = match Self::check(&endpoint) {
                Ok(()) => "answering".to_owned(),
                Err(err) => format!("NOT answering: {err}"),
            };
            println!("{} is set: using {endpoint} ({answer})", Self::ENDPOINT_ENV);
        }
        match Self::read_state()? {
            None => println!("{}: not running (started by xtask: none)", Self::NAME),
            Some(server) if !Self::is_running(server) => {
                println!(
                    "{}: not running (pid {} recorded in {} is gone; the next start replaces \
                     the record)",
                    Self::NAME,
                    server.pid,
                    Self::state_file().display()
                );
            }
            Some(server) => {
                let answer = match Self::check(&server.endpoint()) {
                    Ok(()) => "answering",
                    Err(_) => "running but NOT answering",
                };
                println!(
                    "{}: pid {}, {} ({answer})",
                    Self::NAME_VERSION,
                    server.pid,
                    server.endpoint()
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Makes sure a server answers: the external endpoint, one started earlier, or a new one.
    fn start(port: Option<u16>) -> Result<Started> {
        if let Some(endpoint) = Self::external_endpoint() {
            println!(
                "{} is set: using {endpoint}, starting nothing",
                Self::ENDPOINT_ENV
            );
            Self::check(&endpoint)?;
            return Ok(Started::External(endpoint));
        }
        if let Some(server) = Self::read_state()? {
            if Self::is_running(server) && Self::check(&server.endpoint()).is_ok() {
                if port.is_some_and(|port| port != server.port) {
                    return Err(format!(
                        "{} is already running on port {} (pid {}); stop it with \
                         `cargo xtask {} stop` to start one on another port",
                        Self::NAME,
                        server.port,
                        server.pid,
                        Self::COMMAND
                    )
                    .into());
                }
                println!(
                    "{} already running: pid {}, {} (reused)",
                    Self::NAME,
                    server.pid,
                    server.endpoint()
                );
                return Ok(Started::Reused(server));
            }
            if Self::is_running(server) {
                // Ours but deaf: end it rather than leave a second server behind.
                Self::stop(server)?;
            }
            std::fs::remove_file(Self::state_file()).ok();
        }
        let installed = Self::install()?;
        let port = choose_port(port, Self::DEFAULT_PORT)?;
        let mut command = Self::command(&installed, port);
        std::fs::create_dir_all(Self::state_dir())?;
        let log_path = Self::state_dir().join("server.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|err| format!("cannot create {}: {err}", log_path.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // Its own process group: a Ctrl-C in the terminal reaches cargo and the tests, while the
        // server stays up until xtask stops it deliberately.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let program = command.get_program().to_string_lossy().into_owned();
        let mut child = command
            .spawn()
            .map_err(|err| format!("cannot run {program}: {err}"))?;
        let server = Server {
            pid: child.id(),
            port,
        };
        Self::write_state(server)?;

        print!("starting {} on {} ", Self::NAME_VERSION, server.endpoint());
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                std::fs::remove_file(Self::state_file()).ok();
                return Err(format!(
                    "{} exited at start ({status}); its log {} ends with:\n{}",
                    Self::NAME,
                    log_path.display(),
                    log_tail(&log_path)
                )
                .into());
            }
            if Self::check(&server.endpoint()).is_ok() {
                break;
            }
            if started.elapsed() > Self::START_TIMEOUT {
                Self::stop(server)?;
                return Err(format!(
                    "{} did not answer within {} s; its log {} ends with:\n{}",
                    Self::NAME,
                    Self::START_TIMEOUT.as_secs(),
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
    fn stop(server: Server) -> Result<()> {
        if Self::is_running(server) {
            signal(server.pid, "-TERM")?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while Self::is_running(server) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            if Self::is_running(server) {
                signal(server.pid, "-KILL")?;
            }
            println!(
                "stopped {} (pid {}, {})",
                Self::NAME,
                server.pid,
                server.endpoint()
            );
        } else {
            println!(
                "{} pid {} had already exited; nothing to stop",
                Self::NAME,
                server.pid
            );
        }
        std::fs::remove_file(Self::state_file()).ok();
        Ok(())
    }

    /// True when the recorded pid is alive and is a server of this kind on the recorded port;
    /// a pid reused by another program is never signalled.
    fn is_running(server: Server) -> bool {
        let Ok(cmdline) = std::fs::read(format!("/proc/{}/cmdline", server.pid)) else {
            return false;
        };
        let args: Vec<String> = cmdline
            .split(|byte| *byte == 0)
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect();
        Self::is_ours(&args, server.port)
    }

    fn write_state(server: Server) -> Result<()> {
        std::fs::create_dir_all(Self::state_dir())?;
        std::fs::write(
            Self::state_file(),
            format!("pid={}\nport={}\n", server.pid, server.port),
        )?;
        Ok(())
    }

    /// The server recorded by the last `start`, if any.
    fn read_state() -> Result<Option<Server>> {
        let Ok(text) = std::fs::read_to_string(Self::state_file()) else {
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
                std::fs::remove_file(Self::state_file()).ok();
                Ok(None)
            }
        }
    }
}

/// A server process started by `start`, as recorded in the state file.
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
    /// The endpoint variable was set: nothing was started.
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

/// True when `args` hold `flag` directly followed by `port`.
pub(crate) fn has_port_flag(args: &[String], flag: &str, port: u16) -> bool {
    let port = port.to_string();
    args.windows(2)
        .any(|pair| pair[0] == flag && pair[1] == port)
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

/// The requested port when it is free; otherwise the default, or any free port.
fn choose_port(requested: Option<u16>, default: u16) -> Result<u16> {
    let free = |port: u16| TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok();
    match requested {
        Some(port) if free(port) => Ok(port),
        Some(port) => Err(format!(
            "port {port} on 127.0.0.1 is already in use; pick another with `--port N`, or \
             leave out `--port` to let xtask choose a free one"
        )
        .into()),
        None if free(default) => Ok(default),
        None => {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
                .local_addr()?
                .port();
            println!("port {default} is in use; using free port {port} instead");
            Ok(port)
        }
    }
}

/// The path of `name` on PATH, or an error saying to install `what`.
pub(crate) fn require_tool(name: &str, what: &str) -> Result<PathBuf> {
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
