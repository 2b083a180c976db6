//! `kafka-esm serve`: many mappings in one process, driven through Lambda's event source
//! mapping API, kept in a state store.
//!
//! The layer above the runtime (which runs one mapping): the API (`api.rs`, with its
//! errors in `error.rs`), the stored mapping and its AWS shape (`document.rs`), the
//! running mappings (`registry.rs`), the local functions (`functions.rs`) and the state
//! (`state.rs` over `store.rs`). It must not reach below the runtime: it never speaks
//! Kafka, batches or commits; a mapping is run by [`crate::runtime::run`] exactly as
//! `kafka-esm run` runs one.

mod api;
mod document;
mod error;
mod functions;
mod kafka_store;
mod registry;
mod sigv4;
mod state;
mod store;
mod tls;

pub use document::{API_ESM_KEYS, Defaults, Identity};
pub use error::ApiError;
pub use functions::{Functions, FunctionsError, declare};
pub use sigv4::CredentialsError;
pub use store::StoreError;

use crate::aws::AwsOptions;
use crate::invoke::local::{InvokeHandler, LocalFunction};
use registry::{Context, Registry};
use state::StateStore;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use store::DirStore;
use tokio::net::TcpListener;

/// Why `serve` could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    StateTopic(#[from] kafka_store::KafkaStoreError),
    #[error(transparent)]
    Functions(#[from] FunctionsError),
    #[error(
        "{0} is not a loopback address: give --api-credentials, so that every request is verified (SigV4)"
    )]
    NotLoopback(SocketAddr),
    #[error(transparent)]
    Credentials(#[from] sigv4::CredentialsError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("binding the API to {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("serving the API: {0}")]
    Serve(std::io::Error),
}

/// How `serve` runs.
pub struct ServeOptions {
    /// Where the API listens.
    pub listen: SocketAddr,
    /// Where the mappings are kept.
    pub state: StateLocation,
    /// The functions run on this host.
    pub functions: Vec<LocalFunction>,
    /// The region and account in the ARNs the API shows.
    pub identity: Identity,
    /// Added to every mapping's `KafkaEsm` section (the region, the Lambda endpoint).
    pub defaults: Defaults,
    /// The AWS Lambda client's settings, for functions that are not local.
    pub lambda: AwsOptions,
    /// The on-failure destinations' AWS settings.
    pub destination_aws: AwsOptions,
    /// `file://PATH` of the keys allowed to call the API: every request is then verified
    /// (AWS Signature Version 4). Required on a non-loopback address.
    pub api_credentials: Option<String>,
    /// The API's certificate chain and private key (PEM files): the API is served over
    /// TLS (HTTPS) when given.
    pub api_tls: Option<(PathBuf, PathBuf)>,
}

/// Where `serve` keeps its mappings.
#[derive(Clone, Debug)]
pub enum StateLocation {
    /// A state directory on this host (one `serve` at a time).
    Dir(PathBuf),
    /// `kafka://HOST:PORT[,...]/TOPIC`: a compacted topic shared by every instance, with
    /// the `SourceAccessConfigurations` (as a mapping's) of its brokers, if any.
    Kafka {
        uri: String,
        access: Option<serde_json::Value>,
    },
}

/// A started `serve`: its API bound, its stored mappings running.
pub struct Server {
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    api: Arc<api::Api>,
}

impl Server {
    /// Opens the state, starts the stored mappings and binds the API.
    pub async fn start(options: ServeOptions) -> Result<Server, ServeError> {
        let verifier = match &options.api_credentials {
            Some(uri) => Some(sigv4::Verifier::from_uri(uri, &options.identity.region)?),
            None if !options.listen.ip().is_loopback() => {
                return Err(ServeError::NotLoopback(options.listen));
            }
            None => None,
        };
        let tls = match &options.api_tls {
            Some((cert, key)) => Some(tls::server_config(cert, key)?),
            None => None,
        };
        let functions = Functions::new(options.functions, options.lambda)?;
        let invoke = InvokeHandler::new(functions.local().cloned()).without_origin_checks();
        let registry = Registry::new(Context {
            defaults: options.defaults,
            identity: options.identity,
            functions,
            destination_aws: options.destination_aws,
        });
        let store = match &options.state {
            StateLocation::Dir(path) => {
                let dir = DirStore::open(path)?;
                for stored in dir.load()? {
                    match stored.resolve(&registry.context().defaults) {
                        Ok(mapping) => registry.put(stored, mapping),
                        Err(e) => tracing::error!(
                            uuid = %stored.uuid,
                            "a stored mapping no longer resolves, not started: {e}"
                        ),
                    }
                }
                StateStore::Dir(Arc::new(dir))
            }
            StateLocation::Kafka { uri, access } => StateStore::Kafka(Arc::new(
                kafka_store::KafkaStore::open(uri, access.as_ref(), registry.clone()).await?,
            )),
        };
        let listener =
            TcpListener::bind(options.listen)
                .await
                .map_err(|source| ServeError::Bind {
                    address: options.listen,
                    source,
                })?;
        let api = Arc::new(api::Api {
            registry,
            store,
            invoke,
            verifier,
            write: tokio::sync::Mutex::new(()),
        });
        Ok(Server { listener, tls, api })
    }

    /// `https` when the API is served over TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The address the API listens on (the port chosen when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Serves until `shutdown` resolves, then stops every mapping (each finishes and
    /// commits its batches in flight).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let registry = self.api.registry.clone();
        let router = api::router(self.api);
        let served = match self.tls {
            Some(config) => {
                axum::serve(tls::TlsListener::new(self.listener, config), router)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
            None => {
                axum::serve(self.listener, router)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
        };
        registry.shutdown().await;
        served.map_err(ServeError::Serve)
    }
}
