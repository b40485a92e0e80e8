//! The local services a run needs, started together and stopped together: only what this run
//! started is stopped, also when the run fails or is interrupted.

use std::process::{Command, ExitStatus};

use crate::dynamodb_local::{self, DynamoDbLocal};
use crate::local_server::{LocalServer, Started};
use crate::moto::Moto;
use crate::{Result, block_on};

/// Services held for the length of one `test` or `demo` run: DynamoDB Local, and moto for SQS
/// and SNS.
pub(crate) struct LocalServices {
    dynamodb: Option<Started>,
    moto: Option<Started>,
}

impl LocalServices {
    /// Starts (or reuses, or takes from the environment) every service. When one fails to
    /// start, those already started are stopped.
    pub(crate) fn start() -> Result<Self> {
        step("starting local services");
        let mut services = Self {
            dynamodb: Some(DynamoDbLocal::start(None)?),
            moto: None,
        };
        // On an error here, dropping `services` stops DynamoDB Local again.
        services.moto = Some(Moto::start(None)?);
        Ok(services)
    }

    /// Starts (or reuses, or takes from the environment) DynamoDB Local alone, for runs that
    /// need no SQS or SNS (the benchmarks).
    pub(crate) fn start_dynamodb() -> Result<Self> {
        step("starting DynamoDB Local");
        Ok(Self {
            dynamodb: Some(DynamoDbLocal::start(None)?),
            moto: None,
        })
    }

    /// The environment a child process needs to reach the services: the endpoint variables
    /// every AWS SDK reads (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SQS`,
    /// `AWS_ENDPOINT_URL_SNS`), and a region and dummy credentials where none are set, so that
    /// clients made from the standard chain reach the local servers; and `DYNAMODB_LOCAL_DIR`,
    /// the emulator for runs that start and restart a DynamoDB Local of their own.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = Vec::new();
        if let Some(dynamodb) = &self.dynamodb {
            env.push((DynamoDbLocal::ENDPOINT_ENV, dynamodb.endpoint()));
            // DynamoDB Local serves the `dynamodbstreams` API on its own port.
            if std::env::var_os(DynamoDbLocal::STREAMS_ENDPOINT_ENV).is_none() {
                env.push((DynamoDbLocal::STREAMS_ENDPOINT_ENV, dynamodb.endpoint()));
            }
        }
        if let Some(dir) = dynamodb_local::emulator_dir() {
            env.push((dynamodb_local::EMULATOR_DIR_ENV, dir.display().to_string()));
        }
        if let Some(moto) = &self.moto {
            env.push((Moto::ENDPOINT_ENV, moto.endpoint()));
            for variable in Moto::ALSO_SETS {
                if std::env::var_os(variable).is_none() {
                    env.push((variable, moto.endpoint()));
                }
            }
        }
        for (variable, local) in [
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
        ] {
            if std::env::var_os(variable).is_none() {
                env.push((variable, local.to_owned()));
            }
        }
        env
    }

    /// The DynamoDB endpoint.
    pub(crate) fn dynamodb_endpoint(&self) -> String {
        self.dynamodb
            .as_ref()
            .map(Started::endpoint)
            .expect("services are running until stopped")
    }

    /// Runs a child (cargo) with the services' environment. A Ctrl-C or SIGTERM is passed on to
    /// the child and waited out, so that the services are still stopped afterwards.
    pub(crate) fn run_child(&self, mut command: Command) -> Result<ExitStatus> {
        command.envs(self.env());
        let shown = format!("{command:?}");
        block_on(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let mut child = tokio::process::Command::from(command)
                .spawn()
                .map_err(|err| format!("cannot run {shown}: {err}"))?;
            let mut interrupt = signal(SignalKind::interrupt())?;
            let mut terminate = signal(SignalKind::terminate())?;
            loop {
                tokio::select! {
                    status = child.wait() => return Ok(status?),
                    _ = interrupt.recv() => forward(&child, "-INT"),
                    _ = terminate.recv() => forward(&child, "-TERM"),
                }
            }
        })
    }

    /// Runs a child like [`LocalServices::run_child`], showing its standard output as it comes
    /// and keeping it: for a report written to a file as well.
    pub(crate) fn run_child_keeping_output(
        &self,
        mut command: Command,
    ) -> Result<(ExitStatus, String)> {
        command.envs(self.env());
        command.stdout(std::process::Stdio::piped());
        let shown = format!("{command:?}");
        block_on(async move {
            use tokio::io::AsyncBufReadExt;
            use tokio::signal::unix::{SignalKind, signal};
            let mut child = tokio::process::Command::from(command)
                .spawn()
                .map_err(|err| format!("cannot run {shown}: {err}"))?;
            let stdout = child.stdout.take().expect("stdout is piped");
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            let mut kept = String::new();
            let mut interrupt = signal(SignalKind::interrupt())?;
            let mut terminate = signal(SignalKind::terminate())?;
            loop {
                tokio::select! {
                    line = lines.next_line() => match line? {
                        Some(line) => {
                            println!("{line}");
                            kept.push_str(&line);
                            kept.push('\n');
                        }
                        None => return Ok((child.wait().await?, kept)),
                    },
                    _ = interrupt.recv() => forward(&child, "-INT"),
                    _ = terminate.recv() => forward(&child, "-TERM"),
                }
            }
        })
    }

    /// Stops what this run started.
    pub(crate) fn stop(mut self) -> Result<()> {
        self.stop_started()
    }

    fn stop_started(&mut self) -> Result<()> {
        let moto = match self.moto.take() {
            Some(Started::New(server)) => Some(server),
            _ => None,
        };
        let dynamodb = match self.dynamodb.take() {
            Some(Started::New(server)) => Some(server),
            _ => None,
        };
        if moto.is_some() || dynamodb.is_some() {
            step("stopping local services");
        }
        // Both are tried, whatever the first one does.
        let moto = moto.map_or(Ok(()), Moto::stop);
        let dynamodb = dynamodb.map_or(Ok(()), DynamoDbLocal::stop);
        moto.and(dynamodb)
    }
}

impl Drop for LocalServices {
    fn drop(&mut self) {
        // Reached on an early `?` or a panic: never leave a server of ours behind.
        if let Err(err) = self.stop_started() {
            eprintln!("warning: could not stop local services: {err}");
        }
    }
}

fn forward(child: &tokio::process::Child, signal: &str) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill")
            .args([signal, &pid.to_string()])
            .status();
    }
}

/// A progress line for a step of a long run.
pub(crate) fn step(what: &str) {
    println!("==> {what}");
}

/// The cargo that runs xtask, so children use the same toolchain, in the environment xtask was
/// started from.
///
/// `cargo run` gives xtask the variables of a running package (`CARGO_MANIFEST_DIR`,
/// `CARGO_PKG_*`, ...) and puts build-script output folders on `LD_LIBRARY_PATH`. Passed on to
/// a child cargo they change what build scripts see (ring's reruns on `CARGO_MANIFEST_DIR`), and
/// the child would compile the SDK a second time. They are removed here.
pub(crate) fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(crate::paths::workspace_root());
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_by_cargo_run = matches!(
            name.as_ref(),
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
        ) || name.starts_with("CARGO_PKG_");
        if set_by_cargo_run {
            command.env_remove(name.as_ref());
        }
    }
    if let Some(paths) = std::env::var_os("LD_LIBRARY_PATH") {
        let target = crate::paths::target_dir();
        let kept: Vec<_> = std::env::split_paths(&paths)
            .filter(|path| !path.starts_with(&target))
            .collect();
        match std::env::join_paths(kept) {
            Ok(joined) if !joined.is_empty() => command.env("LD_LIBRARY_PATH", joined),
            _ => command.env_remove("LD_LIBRARY_PATH"),
        };
    }
    command
}
