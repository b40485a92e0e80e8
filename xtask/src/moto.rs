//! The local SQS, SNS and S3 server: `moto[server]` from PyPI, installed once into a virtualenv under
//! `target/moto/venv`, run as `moto_server -H 127.0.0.1 -p N` (in memory), recorded and stopped
//! like DynamoDB Local (see [`LocalServer`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use outbox_runtime::transport::{sns, sqs};

use crate::local_server::{LocalServer, has_port_flag, require_tool};
use crate::{Result, block_on};

/// The PyPI release, pinned.
const MOTO_VERSION: &str = "5.2.5";

/// moto as a [`LocalServer`]: `cargo xtask moto start | stop | status`.
pub(crate) struct Moto;

/// The virtualenv's interpreter and its `moto_server` script.
pub(crate) struct Installed {
    python: PathBuf,
    moto_server: PathBuf,
}

impl LocalServer for Moto {
    const NAME: &'static str = "moto (SQS, SNS and S3)";
    const NAME_VERSION: &'static str = "moto 5.2.5 (SQS, SNS and S3)";
    const COMMAND: &'static str = "moto";
    const ENDPOINT_ENV: &'static str = "AWS_ENDPOINT_URL_SQS";
    /// moto speaks SNS on the same port.
    const ALSO_SETS: &'static [&'static str] = &["AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL_S3"];
    /// moto's own default port.
    const DEFAULT_PORT: u16 = 5000;
    const START_TIMEOUT: Duration = Duration::from_secs(30);
    const STATE_DIR: &'static str = "moto";

    type Installed = Installed;

    fn is_ours(args: &[String], port: u16) -> bool {
        args.iter().any(|arg| {
            Path::new(arg)
                .file_name()
                .is_some_and(|name| name == "moto_server")
        }) && has_port_flag(args, "-p", port)
    }

    /// `ListQueues` and `ListTopics`: both protocols answer.
    fn check(endpoint: &str) -> Result<()> {
        block_on(async {
            sqs::local_client(endpoint)
                .list_queues()
                .send()
                .await
                .map_err(|err| {
                    format!(
                        "SQS ListQueues at {endpoint} failed: {}",
                        aws_sdk_sqs::error::DisplayErrorContext(&err)
                    )
                })?;
            sns::local_client(endpoint)
                .list_topics()
                .send()
                .await
                .map_err(|err| {
                    format!(
                        "SNS ListTopics at {endpoint} failed: {}",
                        aws_sdk_sns::error::DisplayErrorContext(&err)
                    )
                })?;
            Ok(())
        })
    }

    fn install() -> Result<Installed> {
        let venv = Self::state_dir().join("venv");
        let installed = Installed {
            python: venv.join("bin").join("python"),
            moto_server: venv.join("bin").join("moto_server"),
        };
        // Written last, so that an interrupted install is redone rather than trusted.
        let stamp = venv.join(format!("installed-moto-{MOTO_VERSION}"));
        if stamp.is_file() && installed.python.is_file() && installed.moto_server.is_file() {
            return Ok(installed);
        }
        let python3 = require_tool(
            "python3",
            "Python 3 with its venv module (Debian: `apt-get install python3 python3-venv`)",
        )?;
        println!(
            "installing moto[server] {MOTO_VERSION} from PyPI into {} (about 300 MB, once)",
            venv.display()
        );
        let status = Command::new(&python3)
            .args(["-m", "venv", "--clear"])
            .arg(&venv)
            .status()
            .map_err(|err| format!("cannot run {}: {err}", python3.display()))?;
        if !status.success() {
            return Err(format!(
                "`python3 -m venv {}` failed ({status}); Python's venv module is missing: on \
                 Debian install it with `apt-get install python3-venv`, then try again",
                venv.display()
            )
            .into());
        }
        let requirement = format!("moto[server]=={MOTO_VERSION}");
        let status = Command::new(&installed.python)
            .args(["-m", "pip", "install", "--disable-pip-version-check"])
            .arg(&requirement)
            .status()
            .map_err(|err| format!("cannot run {}: {err}", installed.python.display()))?;
        if !status.success() {
            return Err(format!(
                "`pip install {requirement}` failed ({status}); check that PyPI is reachable \
                 (`pip config list` shows the index in use), then try again"
            )
            .into());
        }
        std::fs::write(&stamp, format!("{requirement}\n"))?;
        println!("installed {requirement} into {}", venv.display());
        Ok(installed)
    }

    fn command(installed: &Installed, port: u16) -> Command {
        // The interpreter named explicitly: the command line is then the same whatever the
        // length of the script's shebang, and `is_ours` recognises it.
        let mut command = Command::new(&installed.python);
        command
            .arg(&installed.moto_server)
            .args(["-H", "127.0.0.1", "-p"])
            .arg(port.to_string());
        command
    }
}
