//! The owner's side: the git-maestro process that runs a performer serves that run's tools on
//! a Unix socket, for as long as the performer runs.
//!
//! A connection starts with one [`Hello`] line. The owner answers with one [`Welcome`] line and
//! closes the connection unless the hello carries the run's token and names the run's Score,
//! task and run. After that the connection is an MCP session (JSON-RPC, one message a line).
//! The socket lives in a directory only this user can enter, and is removed when the
//! [`Endpoint`] is dropped, which the run does as soon as the performer exits.

use std::io::Read;
use std::path::{Path, PathBuf};

use rmcp::ServiceExt;
use rmcp::transport::async_rw::AsyncRwTransport;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::limits::MESSAGE_BYTES;
use super::{Hello, MaestroMcp, RunContext, SOCKET_VAR, TOKEN_VAR, Welcome};

/// Bytes of the hello line.
pub(super) const HELLO_BYTES: u64 = 4096;

/// Unix socket paths longer than this do not fit `sockaddr_un` on every platform.
const MAX_SOCKET_PATH: usize = 100;

/// Where a run's MCP server listens, and the token a relay must present. Dropping it removes
/// the socket (and its private directory).
#[derive(Debug)]
pub struct Endpoint {
    dir: PathBuf,
    socket: PathBuf,
    token: String,
}

/// The listening socket, until [`Listener::serve`] takes it over.
pub struct Listener {
    listener: std::os::unix::net::UnixListener,
    token: String,
    server: MaestroMcp,
}

/// Start listening for `run`: a socket under `<common>/maestro/run/`, or under the temp
/// directory when that path would be too long for a socket, and a fresh random token.
pub fn bind(common_dir: &Path, run: RunContext, server: MaestroMcp) -> std::io::Result<(Endpoint, Listener)> {
    let token = random_token()?;
    let mut dir = common_dir.join("maestro/run").join(&run.run);
    if dir.join("mcp.sock").as_os_str().len() > MAX_SOCKET_PATH {
        dir = std::env::temp_dir().join(format!("git-maestro-{}", run.run));
    }
    private_dir(&dir)?;
    let socket = dir.join("mcp.sock");
    let endpoint = Endpoint { dir, socket, token: token.clone() };
    // A socket left by a run that was killed is stale: its run id is unique to this run.
    let _ = std::fs::remove_file(&endpoint.socket);
    let listener = std::os::unix::net::UnixListener::bind(&endpoint.socket)?;
    listener.set_nonblocking(true)?;
    Ok((endpoint, Listener { listener, token, server }))
}

impl Endpoint {
    /// The variables that tell a relay where the owner is.
    pub fn env(&self) -> [(String, String); 2] {
        [(SOCKET_VAR.to_owned(), self.socket.display().to_string()), (TOKEN_VAR.to_owned(), self.token.clone())]
    }

    /// The socket's path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

impl Listener {
    /// Accept relays until the future is dropped; each connection is served on its own task.
    pub async fn serve(self) {
        let Ok(listener) = tokio::net::UnixListener::from_std(self.listener) else { return };
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let (token, server) = (self.token.clone(), self.server.clone());
                    tokio::spawn(async move {
                        let _ = connection(stream, &token, server).await;
                    });
                }
                // Out of descriptors, most likely: let the connections in hand finish.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
    }
}

/// Check one relay's hello, then serve MCP on the connection until it closes.
async fn connection(stream: tokio::net::UnixStream, token: &str, server: MaestroMcp) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = Vec::new();
    (&mut read).take(HELLO_BYTES).read_until(b'\n', &mut line).await?;
    let verdict = serde_json::from_slice::<Hello>(&line)
        .map_err(|_| "the relay did not introduce itself".to_owned())
        .and_then(|hello| admit(&hello, token, server.run()));
    let welcome = match &verdict {
        Ok(()) => Welcome { ok: true, error: None },
        Err(why) => Welcome { ok: false, error: Some(why.clone()) },
    };
    let mut answer = serde_json::to_vec(&welcome).map_err(std::io::Error::other)?;
    answer.push(b'\n');
    write.write_all(&answer).await?;
    if verdict.is_err() {
        return write.shutdown().await;
    }
    let transport = AsyncRwTransport::new_server(read, write).with_max_line_length(MESSAGE_BYTES);
    let running = server.serve(transport).await.map_err(std::io::Error::other)?;
    running.waiting().await.map_err(std::io::Error::other)?;
    Ok(())
}

/// Whether `hello` may use the tools of `run`.
fn admit(hello: &Hello, token: &str, run: &RunContext) -> Result<(), String> {
    if !same(hello.token.as_bytes(), token.as_bytes()) {
        return Err("the token does not match this run's; nothing is served".into());
    }
    if (hello.score.as_str(), hello.task.as_str(), hello.run.as_str())
        != (run.score.as_str(), run.task.as_str(), run.run.as_str())
    {
        return Err(format!(
            "this server belongs to run {} of {}/{}, not to run {} of {}/{}",
            run.run, run.score, run.task, hello.run, hello.score, hello.task
        ));
    }
    Ok(())
}

/// Compare without stopping at the first difference, so timing tells nothing about the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 32 random bytes from the kernel, as hex.
fn random_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Create `dir` (and its parents) so that only this user can enter it.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> RunContext {
        RunContext { score: "s".into(), task: "t".into(), run: "r".into(), performer: "p".into() }
    }

    fn hello(token: &str, task: &str) -> Hello {
        Hello { token: token.into(), score: "s".into(), task: task.into(), run: "r".into() }
    }

    #[test]
    fn only_the_runs_token_and_task_are_admitted() {
        assert_eq!(admit(&hello("abc", "t"), "abc", &run()), Ok(()));
        assert!(admit(&hello("abd", "t"), "abc", &run()).is_err());
        assert!(admit(&hello("", "t"), "abc", &run()).is_err());
        assert!(admit(&hello("abc", "other"), "abc", &run()).unwrap_err().contains("not to run r of s/other"));
    }

    #[test]
    fn tokens_are_random_hex() {
        let (a, b) = (random_token().expect("a token"), random_token().expect("a token"));
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
