//! The relay: what `git maestro mcp` is. An agent CLI starts it inside the agent's sandbox,
//! where it cannot write the repository, so it only carries JSON-RPC lines between the agent
//! and the git-maestro process that owns the run (see [`super::owner`]). Without that owner,
//! or when the owner refuses it, it answers the agent's first request with a JSON-RPC error
//! and fails; it never opens the repository itself.

use std::path::PathBuf;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use super::limits::MESSAGE_BYTES;
use super::owner::HELLO_BYTES;
use super::{Hello, Welcome};

/// The JSON-RPC error code of a refused relay (the implementation-defined server range).
pub const REFUSED_CODE: i64 = -32001;

/// Why the relay stopped.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("no live git-maestro run owns this MCP server ({socket}): {source}")]
    NoOwner { socket: PathBuf, source: std::io::Error },
    #[error("the run refused this MCP server: {0}")]
    Refused(String),
    #[error("the run that owned this MCP server has ended")]
    OwnerGone,
    #[error("cannot relay MCP messages: {0}")]
    Io(#[from] std::io::Error),
}

/// Connect to the owner at `socket` as `hello` says, then carry lines between `input` and
/// `output` (the agent's end) and the owner until either side closes. When the owner cannot
/// be reached or refuses, the first request read from `input` (if `answer` is set) gets a
/// JSON-RPC error that says why.
pub async fn relay<R, W>(
    socket: PathBuf,
    hello: &Hello,
    input: R,
    mut output: W,
    answer: bool,
) -> Result<(), RelayError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
{
    let stream = match connect(&socket, hello).await {
        Ok(stream) => stream,
        Err(e) => {
            if answer {
                refuse_first_request(input, &mut output, &e.to_string()).await?;
            }
            return Err(e);
        }
    };
    let (mut from_owner, mut to_owner) = stream.into_split();
    let mut up = tokio::spawn(async move {
        let mut input = input;
        let copied = tokio::io::copy(&mut input, &mut to_owner).await;
        let _ = to_owner.shutdown().await;
        copied
    });
    // `copy` flushes whenever the owner has nothing more to send for now, and at the end.
    let down = tokio::io::copy(&mut from_owner, &mut output);
    tokio::pin!(down);
    tokio::select! {
        // The agent closed its end: let the owner answer what it has, then stop.
        _ = &mut up => {
            down.await?;
            Ok(())
        }
        // The owner closed first: the run is over, whatever the agent still sends.
        copied = &mut down => {
            up.abort();
            copied?;
            Err(RelayError::OwnerGone)
        }
    }
}

/// Open the socket and pass the hello; the stream is ready for MCP once the owner welcomes it.
async fn connect(socket: &std::path::Path, hello: &Hello) -> Result<tokio::net::UnixStream, RelayError> {
    let mut stream = tokio::net::UnixStream::connect(socket)
        .await
        .map_err(|source| RelayError::NoOwner { socket: socket.to_owned(), source })?;
    let mut line = serde_json::to_vec(hello).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line).await?;
    let mut reply = Vec::new();
    {
        let mut reader = BufReader::new((&mut stream).take(HELLO_BYTES));
        reader.read_until(b'\n', &mut reply).await?;
        // The owner writes nothing after its welcome until the first request, so the reader
        // holds no MCP bytes when it is dropped here.
    }
    match serde_json::from_slice::<Welcome>(&reply) {
        Ok(Welcome { ok: true, .. }) => Ok(stream),
        Ok(Welcome { error, .. }) => Err(RelayError::Refused(error.unwrap_or_else(|| "no reason given".into()))),
        Err(_) => Err(RelayError::Refused("the owner's answer was not understood".into())),
    }
}

/// Read lines until the first JSON-RPC request (a message with an `id`) and answer it with an
/// error carrying `message`. Notifications and unreadable lines are skipped.
async fn refuse_first_request<R, W>(input: R, output: &mut W, message: &str) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut input = BufReader::new(input);
    loop {
        let mut line = Vec::new();
        let read = (&mut input).take(MESSAGE_BYTES as u64).read_until(b'\n', &mut line).await?;
        if read == 0 {
            return Ok(());
        }
        let Ok(serde_json::Value::Object(request)) = serde_json::from_slice::<serde_json::Value>(&line) else {
            continue;
        };
        let Some(id) = request.get("id").filter(|id| id.is_string() || id.is_number()) else { continue };
        let error = serde_json::json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": { "code": REFUSED_CODE, "message": message },
        });
        let mut answer = serde_json::to_vec(&error).map_err(std::io::Error::other)?;
        answer.push(b'\n');
        output.write_all(&answer).await?;
        return output.flush().await;
    }
}
