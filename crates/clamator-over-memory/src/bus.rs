//! [`MemoryBus`]: where in-process servers and clients meet.
//!
//! The bus is a routing table from service names to started servers. Servers
//! add their services when they start and remove them when they stop; clients look a
//! service up for every call and hand the request text to that server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use clamator_protocol::{Error, Metadata, TransportError};
use tokio::sync::oneshot;

use crate::client::MemoryClient;
use crate::server::{MemoryServer, MemoryServerBuilder, ServerCore, StartError};

/// An in-process message bus: servers and clients made from the same bus (or
/// from clones of it, which share one routing table) can reach each other.
///
/// Each service is served by at most one started server per bus.
#[derive(Clone, Default, Debug)]
pub struct MemoryBus {
    /// The routing table, shared by every clone of this bus.
    inner: Arc<Routes>,
}

/// Started servers by the service names they host.
#[derive(Default, Debug)]
struct Routes {
    /// One entry per hosted service; a server hosting three services appears three times.
    by_service: Mutex<HashMap<String, Arc<ServerCore>>>,
}

impl MemoryBus {
    /// A new, empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder for a server on this bus ([`MemoryServer::builder`]).
    pub fn server(&self) -> MemoryServerBuilder {
        MemoryServer::builder(self)
    }

    /// A client on this bus ([`MemoryClient::new`]).
    pub fn client(&self) -> MemoryClient {
        MemoryClient::new(self)
    }

    fn routes(&self) -> MutexGuard<'_, HashMap<String, Arc<ServerCore>>> {
        // A poisoned lock only means a thread panicked while holding it; every
        // update below is a single insert or retain, so the map is still sound.
        self.inner
            .by_service
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Routes every service of `core` to it, or none of them if another
    /// server already hosts one of them.
    pub(crate) fn register(&self, core: &Arc<ServerCore>) -> Result<(), StartError> {
        let mut routes = self.routes();
        if let Some(taken) = core
            .service_names()
            .find(|name| routes.get(*name).is_some_and(|c| !Arc::ptr_eq(c, core)))
        {
            return Err(StartError::ServiceTaken {
                service: taken.to_owned(),
            });
        }
        for name in core.service_names() {
            routes.insert(name.to_owned(), Arc::clone(core));
        }
        Ok(())
    }

    /// Removes every route to `core`.
    pub(crate) fn unregister(&self, core: &Arc<ServerCore>) {
        self.routes().retain(|_, c| !Arc::ptr_eq(c, core));
    }

    /// Hands the request text (and the caller's metadata) to the server of
    /// `service`, which runs it on a task of its own and sends the reply text, if any, on `reply`.
    pub(crate) fn submit(
        &self,
        service: &str,
        envelope: &str,
        metadata: Metadata,
        reply: Option<oneshot::Sender<String>>,
    ) -> Result<(), Error> {
        let core = self.routes().get(service).cloned();
        match core {
            Some(core) => core.accept(service, envelope, metadata, reply),
            None => Err(TransportError::NoServer {
                service: service.to_owned(),
            }
            .into()),
        }
    }
}
