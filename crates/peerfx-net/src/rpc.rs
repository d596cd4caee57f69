//! Request-response bookkeeping of one protocol: the answers owed to local
//! callers, and the inbound requests whose response the node still owes.

use std::collections::{BTreeMap, HashMap};

use libp2p::{request_response, PeerId};
use tokio::sync::{mpsc, oneshot};

use crate::{NetError, Request, ResponseToken};

/// Most inbound requests awaiting the node's answer. Beyond this the oldest is
/// dropped (its requester sees a failure), so a node that stops answering cannot
/// make the loop hold channels without bound.
const MAX_PENDING_INBOUND: usize = 1024;

pub(crate) struct Rpc<Resp> {
    pub(crate) pending:
        HashMap<request_response::OutboundRequestId, oneshot::Sender<Result<Resp, NetError>>>,
    pub(crate) inbound: BTreeMap<ResponseToken, request_response::ResponseChannel<Resp>>,
}

impl<Resp> Default for Rpc<Resp> {
    fn default() -> Self {
        Rpc {
            pending: HashMap::new(),
            inbound: BTreeMap::new(),
        }
    }
}

impl<Resp> Rpc<Resp> {
    /// Settles `event`; an inbound request goes to the node as `wrap`
    /// makes it, or, when the node's queue is full, is answered `busy` at
    /// once: the loop never waits for the node.
    pub(crate) fn forward<Req, C>(
        &mut self,
        event: request_response::Event<Req, Resp>,
        next_token: &mut u64,
        requests: &mpsc::Sender<Request>,
        behaviour: &mut request_response::Behaviour<C>,
        wrap: impl FnOnce(PeerId, Req, ResponseToken) -> Request,
        busy: Resp,
    ) where
        C: request_response::Codec<Request = Req, Response = Resp> + Clone + Send + 'static,
    {
        let Some((peer, request, token)) = self.on_event(event, next_token) else {
            return;
        };
        if requests.try_send(wrap(peer, request, token)).is_err() {
            if let Some(channel) = self.inbound.remove(&token) {
                // Fails only if the requester went away.
                let _ = behaviour.send_response(channel, busy);
            }
        }
    }

    /// Settles answers and failures; returns an inbound request, with the token
    /// its response must carry, for the node to handle.
    pub(crate) fn on_event<Req>(
        &mut self,
        event: request_response::Event<Req, Resp>,
        next_token: &mut u64,
    ) -> Option<(PeerId, Req, ResponseToken)> {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let token = ResponseToken(*next_token);
                    *next_token += 1;
                    if self.inbound.len() >= MAX_PENDING_INBOUND {
                        self.inbound.pop_first();
                    }
                    self.inbound.insert(token, channel);
                    Some((peer, request, token))
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(reply) = self.pending.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                    None
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                if let Some(reply) = self.pending.remove(&request_id) {
                    let _ = reply.send(Err(NetError::Request {
                        peer,
                        failure: error.into(),
                    }));
                }
                None
            }
            request_response::Event::InboundFailure { .. }
            | request_response::Event::ResponseSent { .. } => None,
        }
    }
}
