//! A delaying TCP proxy on loopback, in front of DynamoDB Local: it models a region's round trip
//! (`--rtt-ms`), so that the benchmarks see the bottleneck of a remote service (requests in
//! series) beside the one of the emulator on the same machine (its CPU).
//!
//! Every chunk read from either side is written to the other side half the round trip after it
//! was read. Reading goes on while earlier chunks wait, so the requests of one connection
//! are pipelined, and each connection has threads of its own, so concurrent requests overlap
//! instead of queueing behind each other. Blocking threads and `std::thread::sleep` are used on
//! purpose: the proxy's delay is then exact to some tens of microseconds, where a tokio timer
//! rounds every sleep up to the next millisecond.
//!
//! The proxy runs in a process of its own ([`Proxy::start`] runs the bench binary again with
//! [`PROXY_ARG`]), so that its CPU time is not counted as the client's; the proxy ends when its
//! standard input closes, so it never outlives the process that started it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::cpu::process_cpu;
use super::hand_written::BoxError;

/// The first argument that makes the bench binary serve as a proxy:
/// `bench __proxy <upstream host:port> <one-way delay in µs>`.
pub const PROXY_ARG: &str = "__proxy";

/// A delaying proxy in a child process, stopped when dropped.
#[derive(Debug)]
pub struct Proxy {
    child: Child,
    talk: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    address: SocketAddr,
    rtt: Duration,
}

impl Proxy {
    /// Starts `program` (the bench binary) as a proxy on a free loopback port in front of
    /// `endpoint` (an `http://host:port` URL), delaying each direction by half of `rtt`.
    ///
    /// # Errors
    /// An endpoint that is not plain HTTP (a TLS endpoint would see another host name), or a
    /// proxy that does not start.
    pub fn start(
        program: &std::path::Path,
        endpoint: &str,
        rtt: Duration,
    ) -> Result<Self, BoxError> {
        let upstream = upstream_of(endpoint)?;
        let one_way_us = (rtt.as_micros() / 2).to_string();
        let mut child = Command::new(program)
            .args([PROXY_ARG, &upstream, &one_way_us])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|err| format!("cannot start the proxy ({}): {err}", program.display()))?;
        let stdin = child.stdin.take().ok_or("the proxy's stdin")?;
        let mut stdout = BufReader::new(child.stdout.take().ok_or("the proxy's stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let address: SocketAddr = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|address| address.parse().ok())
            .ok_or_else(|| format!("the proxy did not say where it listens: {line:?}"))?;
        Ok(Self {
            child,
            talk: Mutex::new((stdin, stdout)),
            address,
            rtt,
        })
    }

    /// The endpoint to give a client: `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The round trip it models.
    pub fn rtt(&self) -> Duration {
        self.rtt
    }

    /// The CPU time (user and system) the proxy process has used so far.
    ///
    /// # Errors
    /// A proxy that no longer answers.
    pub fn cpu(&self) -> Result<Duration, BoxError> {
        let mut talk = self.talk.lock().expect("not poisoned");
        let (stdin, stdout) = &mut *talk;
        stdin.write_all(b"cpu\n")?;
        stdin.flush()?;
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let nanos: u64 = line
            .trim()
            .strip_prefix("cpu ")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("the proxy answered {line:?} to `cpu`"))?;
        Ok(Duration::from_nanos(nanos))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Closing its stdin ends it; the kill is for a proxy stuck in a write.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `host:port` of an `http://host:port[/]` endpoint.
fn upstream_of(endpoint: &str) -> Result<String, BoxError> {
    let rest = endpoint.strip_prefix("http://").ok_or_else(|| {
        format!(
            "a modeled round trip needs a plain HTTP endpoint on this machine (DynamoDB Local); \
             {endpoint} is not one"
        )
    })?;
    Ok(rest.trim_end_matches('/').to_owned())
}

/// The proxy process: `args` are the upstream `host:port` and the one-way delay in
/// microseconds. Prints `listening <address>` on stdout, answers `cpu` with
/// `cpu <nanoseconds>`, and ends when stdin closes.
pub fn proxy_main(args: &[String]) -> ExitCode {
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: the delaying proxy: {err}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: &[String]) -> Result<(), BoxError> {
    let [upstream, one_way_us] = args else {
        return Err(format!("usage: bench {PROXY_ARG} <host:port> <one-way delay in µs>").into());
    };
    let upstream: SocketAddr = upstream
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| format!("`{upstream}` names no address"))?;
    let delay = Duration::from_micros(one_way_us.parse()?);
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening {}", listener.local_addr()?)?;
    stdout.flush()?;
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            std::thread::spawn(move || {
                if let Err(err) = connect(client, upstream, delay) {
                    eprintln!("warning: the delaying proxy dropped a connection: {err}");
                }
            });
        }
    });
    for line in std::io::stdin().lock().lines() {
        if line?.trim() == "cpu" {
            writeln!(stdout, "cpu {}", process_cpu().as_nanos())?;
            stdout.flush()?;
        }
    }
    Ok(())
}

/// Joins a client to a new connection upstream, each direction delayed.
fn connect(client: TcpStream, upstream: SocketAddr, delay: Duration) -> std::io::Result<()> {
    let server = TcpStream::connect(upstream)?;
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    pump(client.try_clone()?, server.try_clone()?, delay);
    pump(server, client, delay);
    Ok(())
}

/// Copies what `from` sends to `to`, each chunk `delay` after it was read: a reader thread and
/// a writer thread with a queue between them.
fn pump(from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (queue, chunks) = mpsc::channel::<(Instant, Option<Vec<u8>>)>();
    let reader = from.try_clone();
    std::thread::spawn(move || {
        let Ok(mut reader) = reader else { return };
        let mut buffer = vec![0_u8; 64 * 1024];
        loop {
            match reader.read(&mut buffer) {
                Ok(0) | Err(_) => {
                    let _ = queue.send((Instant::now() + delay, None));
                    return;
                }
                Ok(n) => {
                    if queue
                        .send((Instant::now() + delay, Some(buffer[..n].to_vec())))
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    });
    std::thread::spawn(move || {
        for (due, chunk) in chunks {
            let wait = due.saturating_duration_since(Instant::now());
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
            let written = match chunk {
                Some(bytes) => to.write_all(&bytes),
                // The other side finished sending: pass the end on, as late as the data.
                None => to.shutdown(Shutdown::Write),
            };
            if written.is_err() {
                let _ = to.shutdown(Shutdown::Both);
                let _ = from.shutdown(Shutdown::Read);
                return;
            }
        }
    });
}
