//! Listening to PostgreSQL notifications (LISTEN/NOTIFY) on a connection
//! of its own.

use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use crate::StoreError;

/// The notifications of one channel, while this lives.
pub struct Listener {
    // Dropping the client closes the connection.
    _client: Client,
    receiver: mpsc::UnboundedReceiver<String>,
}

impl Listener {
    /// Connects to `url` and listens on `channel`.
    pub async fn start(url: &str, channel: &str) -> Result<Listener, StoreError> {
        let (client, mut connection) = tokio_postgres::connect(url, NoTls).await?;
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(n))) => {
                        if sender.send(n.payload().to_string()).is_err() {
                            break;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break,
                }
            }
        });
        // Channel names are identifiers: ours are fixed words.
        client.batch_execute(&format!("LISTEN {channel}")).await?;
        Ok(Listener {
            _client: client,
            receiver,
        })
    }

    /// The next notification's payload; None once the connection is lost
    /// (connect again, and re-read what may have been missed).
    pub async fn next(&mut self) -> Option<String> {
        self.receiver.recv().await
    }
}
