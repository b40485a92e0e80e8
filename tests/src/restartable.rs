//! A DynamoDB Local of a run's own, keeping its data on disk (`-dbPath`), that the run can kill
//! with SIGKILL and start again on the same port and the same data: a crash and recovery of the
//! database itself, without disturbing the shared server other tests use.
//!
//! The emulator is the one `cargo xtask` fetches: `cargo xtask test` and `cargo xtask chaos`
//! pass its folder in `DYNAMODB_LOCAL_DIR`; without it, the folder is looked for under the
//! `target/` this binary was built in.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use outbox_runtime::DynamoDb;

/// The variable naming the folder that holds `DynamoDBLocal.jar` and `DynamoDBLocal_lib/`.
pub const DYNAMODB_LOCAL_DIR_ENV: &str = "DYNAMODB_LOCAL_DIR";

/// How long a (re)started server gets to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// A DynamoDB Local process with its data in a folder of its own; killed and its folder
/// removed when dropped.
#[derive(Debug)]
pub struct RestartableDynamoDb {
    emulator_dir: PathBuf,
    data_dir: PathBuf,
    port: u16,
    child: Option<Child>,
    restarts: u32,
}

impl RestartableDynamoDb {
    /// Starts a server on a free port with an empty data folder, and waits until it answers.
    ///
    /// # Panics
    /// When the emulator or Java cannot be found, or the server does not answer; the message
    /// says what to install or run.
    pub async fn start() -> Self {
        let emulator_dir = find_emulator().unwrap_or_else(|err| panic!("{err}"));
        let data_dir = std::env::temp_dir().join(crate::unique_name("outbox-dynamodb-data"));
        std::fs::create_dir_all(&data_dir)
            .unwrap_or_else(|err| panic!("cannot create {}: {err}", data_dir.display()));
        let mut server = Self {
            emulator_dir,
            data_dir,
            port: free_port(),
            child: None,
            restarts: 0,
        };
        server.spawn_and_wait().await;
        server
    }

    /// Its endpoint, the same across restarts.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A client for it. Requests made while it is down fail after the SDK's retries.
    pub fn client(&self) -> DynamoDb {
        DynamoDb::local(self.endpoint())
    }

    /// Times it was started again.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Kills it with SIGKILL (no shutdown of any kind) and waits until the process is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// Starts it again on the same port and data, and waits until it answers; returns how long
    /// that took.
    ///
    /// # Panics
    /// When it does not answer in time, with the end of its log.
    pub async fn restart(&mut self) -> Duration {
        self.kill();
        let started = Instant::now();
        self.restarts += 1;
        self.spawn_and_wait().await;
        started.elapsed()
    }

    /// One log per start: `server-0.log` for the first, `server-1.log` after the first restart.
    fn log_path(&self) -> PathBuf {
        self.data_dir.join(format!("server-{}.log", self.restarts))
    }

    async fn spawn_and_wait(&mut self) {
        let log_path = self.log_path();
        let log = std::fs::File::create(&log_path)
            .unwrap_or_else(|err| panic!("cannot create {}: {err}", log_path.display()));
        let mut command = Command::new("java");
        command
            .current_dir(&self.emulator_dir)
            .arg(format!(
                "-Djava.library.path={}",
                self.emulator_dir.join("DynamoDBLocal_lib").display()
            ))
            .args(["-jar", "DynamoDBLocal.jar", "-sharedDb", "-dbPath"])
            .arg(&self.data_dir)
            .arg("-port")
            .arg(self.port.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("a log file handle"))
            .stderr(log);
        let child = command.spawn().unwrap_or_else(|err| {
            panic!(
                "cannot run `java` to start DynamoDB Local: {err}; install Java 17 or newer \
                 (Debian: `apt-get install openjdk-17-jre-headless`)"
            )
        });
        self.child = Some(child);
        let client = self.client();
        let started = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "DynamoDB Local on port {} exited at start ({status}); its log {} ends \
                     with:\n{}",
                    self.port,
                    log_path.display(),
                    tail(&log_path)
                );
            }
            if client.check_reachable().await.is_ok() {
                return;
            }
            if started.elapsed() > READY_TIMEOUT {
                self.kill();
                panic!(
                    "DynamoDB Local on port {} did not answer within {} s; its log {} ends \
                     with:\n{}",
                    self.port,
                    READY_TIMEOUT.as_secs(),
                    log_path.display(),
                    tail(&log_path)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for RestartableDynamoDb {
    fn drop(&mut self) {
        self.kill();
        std::fs::remove_dir_all(&self.data_dir).ok();
    }
}

/// The emulator folder: `DYNAMODB_LOCAL_DIR`, or the one `cargo xtask` unpacked under the
/// `target/` that holds this binary.
fn find_emulator() -> Result<PathBuf, String> {
    let how = "run through `cargo xtask test` (or `cargo xtask chaos`), which fetch DynamoDB \
               Local and set DYNAMODB_LOCAL_DIR; or fetch it once with `cargo xtask dynamodb \
               start`";
    if let Some(dir) = std::env::var_os(DYNAMODB_LOCAL_DIR_ENV).filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        if dir.join("DynamoDBLocal.jar").is_file() {
            return Ok(dir);
        }
        return Err(format!(
            "{DYNAMODB_LOCAL_DIR_ENV}={} holds no DynamoDBLocal.jar; point it at the folder \
             that does, or unset it and {how}",
            dir.display()
        ));
    }
    let exe = std::env::current_exe().map_err(|err| format!("cannot locate this binary: {err}"))?;
    exe.ancestors()
        .map(|dir| dir.join("dynamodb-local"))
        .find(|dir| dir.is_dir())
        .and_then(|dir| find_jar_dir(&dir))
        .ok_or_else(|| {
            format!(
                "this run restarts a DynamoDB Local of its own and needs its jar, but \
                 {DYNAMODB_LOCAL_DIR_ENV} is not set and no `target/dynamodb-local/` holds one; \
                 {how}"
            )
        })
}

/// `<cache>/<package>/package/lib/dynamodb_local_*/` holding the jar, under `state_dir`.
fn find_jar_dir(state_dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(state_dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("package").join("lib"))
        .filter_map(|lib| std::fs::read_dir(lib).ok())
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|dir| dir.join("DynamoDBLocal.jar").is_file())
}

/// A free loopback port below the usual ephemeral range (32768 and up), so that no outgoing
/// connection takes it while the server is down between a kill and its restart.
fn free_port() -> u16 {
    let mut rng = fastrand::Rng::new();
    for _ in 0..200 {
        let port = rng.u16(20_000..32_000);
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between 20000 and 32000 on 127.0.0.1 after 200 tries")
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
