//! The order in which the host takes its worker's messages: the priority classes
//! ([`MessagePriority`], ArkTS `Priority` of `postMessageAtFront`) and the [`Inbox`] that keeps
//! the messages sent to the host, most urgent first, until the host takes them.
//!
//! Each message waits at a [`Place`], `(class, order)`, and the host always takes the first
//! place. A plain `post_message` joins the **back** of the HIGH class (ArkTS: a normal
//! `postMessage` has the priority HIGH), with an order counting up; an at-front post joins the
//! **front** of its class, with an order counting down, so that it goes before every message of
//! its class already waiting — an at-front message sent later included, as in ArkTS, where it is
//! inserted at the head of its queue.
//!
//! The channels to the host carry tokens only (`ToHost::Message`, `HostJob::Message`): one per
//! message, sent after the message was pushed here. A consumer that takes a token takes the
//! first message of its route then, which is there: every token has its message, and no token
//! is taken twice. Which message a token finds is decided at that moment, not when it was sent:
//! that is what lets a message sent later go first.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::sync::{Mutex, lock};

/// How urgently the host should handle a message its worker sends with
/// [`WorkerPort::post_message_at_front`](crate::WorkerPort::post_message_at_front) (ArkTS
/// `Priority`, API 26).
///
/// The host takes the messages waiting for it by class, `Immediate` first, `Idle` last; within
/// a class, the messages sent at the front go first, the latest of them first, then the others
/// in send order. A plain [`post_message`](crate::WorkerPort::post_message) joins the back of the
/// [`High`](MessagePriority::High) class, as ArkTS's `postMessage` has the priority HIGH — so an
/// at-front `Low` or `Idle` message waits behind it.
///
/// The discriminants are ArkTS's numeric values:
///
/// ```
/// use taskpool::MessagePriority;
/// let arkts = |p: MessagePriority| p as u8;
/// assert_eq!(MessagePriority::ALL.map(arkts), [1, 2, 3, 4]); // IMMEDIATE, HIGH, LOW, IDLE
/// assert_eq!(MessagePriority::default(), MessagePriority::High); // as a plain post_message
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
pub enum MessagePriority {
    /// Before every other message (ArkTS `Priority.IMMEDIATE`).
    Immediate = 1,
    /// The class of a plain `post_message` (ArkTS `Priority.HIGH`), the default.
    #[default]
    High = 2,
    /// After the HIGH messages, a plain `post_message` included (ArkTS `Priority.LOW`).
    Low = 3,
    /// Only once no message of another class waits (ArkTS `Priority.IDLE`).
    Idle = 4,
}

impl MessagePriority {
    /// Every priority, most urgent first.
    pub const ALL: [MessagePriority; 4] = [
        MessagePriority::Immediate,
        MessagePriority::High,
        MessagePriority::Low,
        MessagePriority::Idle,
    ];
}

/// Where a message waits: its class (the ArkTS value, smaller first), then its order within
/// the class (smaller first: negative for at-front messages, the latest the smallest).
pub(crate) type Place = (u8, i64);

/// Where a message joins the queue of its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Position {
    /// A plain post: the back of the HIGH class.
    Back,
    /// An at-front post: the front of its class.
    Front(MessagePriority),
}

/// Which consumer a message waits for. A message is routed when it is sent (see
/// `Link::deliver_message`); the host thread hands a message to the receivers when its
/// callback was cleared meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// The host thread, for `on_message`: one consumer.
    Callback,
    /// `recv`, `recv_timeout` and the streams: any number of consumers.
    Receivers,
}

/// The messages sent to the host and not taken yet, by route, each at its place.
pub(crate) struct Inbox<M> {
    queues: Mutex<Queues<M>>,
}

struct Queues<M> {
    /// The order of the next message posted at the back: 0, 1, 2…
    next_back: i64,
    /// The order of the next message posted at the front: -1, -2, -3… (the places of both
    /// directions never meet: 2⁶³ messages would not fit in memory).
    next_front: i64,
    callback: BTreeMap<Place, M>,
    receivers: BTreeMap<Place, M>,
}

impl<M> Queues<M> {
    fn route(&mut self, route: Route) -> &mut BTreeMap<Place, M> {
        match route {
            Route::Callback => &mut self.callback,
            Route::Receivers => &mut self.receivers,
        }
    }

    /// A new place for a message joining at `position`. The counters are shared by both
    /// routes, so a message handed from one to the other keeps its rank among the messages
    /// already there.
    fn place(&mut self, position: Position) -> Place {
        match position {
            Position::Back => {
                let order = self.next_back;
                self.next_back += 1;
                (MessagePriority::High as u8, order)
            }
            Position::Front(priority) => {
                let order = self.next_front;
                self.next_front -= 1;
                (priority as u8, order)
            }
        }
    }
}

impl<M> Inbox<M> {
    pub(crate) fn new() -> Inbox<M> {
        Inbox {
            queues: Mutex::new(Queues {
                next_back: 0,
                next_front: -1,
                callback: BTreeMap::new(),
                receivers: BTreeMap::new(),
            }),
        }
    }

    /// Keeps `message` for `route` at a new place for `position`. Call it before sending the
    /// message's token, so that whoever takes the token finds the message.
    pub(crate) fn push(&self, route: Route, position: Position, message: M) {
        let mut queues = lock(&self.queues);
        let place = queues.place(position);
        queues.route(route).insert(place, message);
    }

    /// The first message waiting for `route`, with its place. A consumer holding a token of
    /// `route` always gets one.
    pub(crate) fn take(&self, route: Route) -> Option<(Place, M)> {
        lock(&self.queues).route(route).pop_first()
    }

    /// Keeps a message taken from another route at the `place` it had there (the host thread
    /// hands a message to the receivers). Call it before sending the message's new token.
    pub(crate) fn put(&self, route: Route, place: Place, message: M) {
        let replaced = lock(&self.queues).route(route).insert(place, message);
        // Each place is given out once, and a message is taken before it is put back.
        debug_assert!(replaced.is_none(), "two messages at one place");
        // Never, as asserted; a user value, whose `Drop` is not run under the lock.
        crate::panic::drop_quietly(replaced);
    }

    /// Every message still waiting, both routes, for the caller to drop outside the lock (their
    /// `Drop` is user code).
    pub(crate) fn take_all(&self) -> Vec<M> {
        let mut queues = lock(&self.queues);
        let callback = std::mem::take(&mut queues.callback);
        let receivers = std::mem::take(&mut queues.receivers);
        drop(queues);
        callback
            .into_values()
            .chain(receivers.into_values())
            .collect()
    }

    /// How many messages wait for `route`.
    #[cfg(all(test, not(taskpool_loom)))]
    pub(crate) fn len(&self, route: Route) -> usize {
        lock(&self.queues).route(route).len()
    }
}

#[cfg(all(test, not(taskpool_loom)))]
mod tests {
    use super::*;

    /// Drains `route` in the order the host takes it.
    fn drain(inbox: &Inbox<&'static str>, route: Route) -> Vec<&'static str> {
        std::iter::from_fn(|| inbox.take(route).map(|(_, message)| message)).collect()
    }

    #[test]
    fn plain_posts_come_in_send_order() {
        let inbox = Inbox::new();
        for message in ["a", "b", "c"] {
            inbox.push(Route::Receivers, Position::Back, message);
        }
        assert_eq!(drain(&inbox, Route::Receivers), ["a", "b", "c"]);
    }

    #[test]
    fn an_at_front_high_post_goes_before_the_plain_posts_waiting() {
        let inbox = Inbox::new();
        inbox.push(Route::Receivers, Position::Back, "n1");
        inbox.push(Route::Receivers, Position::Back, "n2");
        inbox.push(
            Route::Receivers,
            Position::Front(MessagePriority::High),
            "front",
        );
        inbox.push(Route::Receivers, Position::Back, "n3");
        assert_eq!(drain(&inbox, Route::Receivers), ["front", "n1", "n2", "n3"]);
    }

    #[test]
    fn a_later_at_front_post_goes_before_an_earlier_one_of_its_class() {
        let inbox = Inbox::new();
        for message in ["first", "second", "third"] {
            inbox.push(
                Route::Callback,
                Position::Front(MessagePriority::Low),
                message,
            );
        }
        assert_eq!(drain(&inbox, Route::Callback), ["third", "second", "first"]);
    }

    #[test]
    fn classes_go_immediate_then_high_then_low_then_idle() {
        use MessagePriority::{High, Idle, Immediate, Low};
        let inbox = Inbox::new();
        let posts = [
            ("i1", Position::Front(Idle)),
            ("n1", Position::Back),
            ("l1", Position::Front(Low)),
            ("x1", Position::Front(Immediate)),
            ("h1", Position::Front(High)),
            ("n2", Position::Back),
            ("i2", Position::Front(Idle)),
            ("x2", Position::Front(Immediate)),
        ];
        for (message, position) in posts {
            inbox.push(Route::Receivers, position, message);
        }
        assert_eq!(
            drain(&inbox, Route::Receivers),
            ["x2", "x1", "h1", "n1", "n2", "l1", "i2", "i1"]
        );
    }

    #[test]
    fn routes_are_kept_apart() {
        let inbox = Inbox::new();
        inbox.push(Route::Callback, Position::Back, "for the callback");
        inbox.push(
            Route::Receivers,
            Position::Front(MessagePriority::Immediate),
            "for recv",
        );
        assert_eq!(inbox.len(Route::Callback), 1);
        assert_eq!(drain(&inbox, Route::Receivers), ["for recv"]);
        assert_eq!(drain(&inbox, Route::Callback), ["for the callback"]);
    }

    /// The host thread's hand-over: a message taken from the callback's route keeps its place
    /// among the receivers' messages.
    #[test]
    fn a_message_put_on_another_route_keeps_its_place() {
        let inbox = Inbox::new();
        inbox.push(Route::Receivers, Position::Back, "n1");
        inbox.push(Route::Callback, Position::Back, "n2");
        inbox.push(Route::Receivers, Position::Back, "n3");
        inbox.push(
            Route::Callback,
            Position::Front(MessagePriority::High),
            "front",
        );
        while let Some((place, message)) = inbox.take(Route::Callback) {
            inbox.put(Route::Receivers, place, message);
        }
        assert_eq!(inbox.len(Route::Callback), 0);
        assert_eq!(drain(&inbox, Route::Receivers), ["front", "n1", "n2", "n3"]);
    }

    #[test]
    fn take_all_empties_both_routes() {
        let inbox = Inbox::new();
        inbox.push(Route::Callback, Position::Back, "a");
        inbox.push(
            Route::Receivers,
            Position::Front(MessagePriority::Idle),
            "b",
        );
        let mut all = inbox.take_all();
        all.sort_unstable();
        assert_eq!(all, ["a", "b"]);
        assert!(inbox.take(Route::Callback).is_none());
        assert!(inbox.take(Route::Receivers).is_none());
    }

    #[test]
    fn the_priorities_carry_arkts_values_most_urgent_first() {
        let values = MessagePriority::ALL.map(|p| p as u8);
        assert_eq!(values, [1, 2, 3, 4]);
        assert!(MessagePriority::ALL.windows(2).all(|w| w[0] < w[1]));
    }
}

#[cfg(all(test, taskpool_loom))]
mod loom_tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::sync::Arc;

    /// A channel of tokens, in miniature.
    type Tokens = Arc<Mutex<VecDeque<()>>>;

    /// A consumer's receive, as `Link::settle` does it: a token, then the first message of
    /// its route — which must be there.
    fn receive(tokens: &Tokens, inbox: &Inbox<u32>, route: Route) -> Option<u32> {
        lock(tokens).pop_front()?;
        let (_, message) = inbox
            .take(route)
            .expect("a token was taken without its message");
        Some(message)
    }

    /// The worker pushes a message, then sends its token (twice: a plain post, then an
    /// at-front one), while two receivers each try to take a token; the rest is received after.
    /// Whatever the interleaving, a receiver that takes a token finds a message, and the two
    /// messages are received once each: none lost, none twice.
    #[test]
    fn every_token_finds_its_message_and_none_is_lost_or_taken_twice() {
        loom::model(|| {
            let inbox = Arc::new(Inbox::new());
            let tokens: Tokens = Arc::default();
            let worker = {
                let (inbox, tokens) = (Arc::clone(&inbox), Arc::clone(&tokens));
                loom::thread::spawn(move || {
                    inbox.push(Route::Receivers, Position::Back, 1);
                    lock(&tokens).push_back(());
                    inbox.push(
                        Route::Receivers,
                        Position::Front(MessagePriority::Immediate),
                        2,
                    );
                    lock(&tokens).push_back(());
                })
            };
            let receivers: Vec<_> = (0..2)
                .map(|_| {
                    let (inbox, tokens) = (Arc::clone(&inbox), Arc::clone(&tokens));
                    loom::thread::spawn(move || receive(&tokens, &inbox, Route::Receivers))
                })
                .collect();
            let mut received: Vec<u32> = receivers
                .into_iter()
                .filter_map(|receiver| receiver.join().unwrap())
                .collect();
            worker.join().unwrap();
            while let Some(message) = receive(&tokens, &inbox, Route::Receivers) {
                received.push(message);
            }
            received.sort_unstable();
            assert_eq!(received, [1, 2], "a message was lost or received twice");
            assert!(inbox.take_all().is_empty());
        });
    }

    /// The host thread's hand-over (`Link::hand_over`, in miniature): it takes a message with
    /// its callback token, puts it on the receivers' route, then sends a receivers' token,
    /// while the worker posts straight to the receivers (its callback just cleared) and a
    /// receiver takes a token. Whatever the interleaving, every receivers' token finds a
    /// message and both messages reach the receivers once each.
    #[test]
    fn a_message_handed_to_the_receivers_keeps_tokens_and_messages_paired() {
        loom::model(|| {
            let inbox = Arc::new(Inbox::new());
            let receivers_tokens: Tokens = Arc::default();
            // Message 1 went to the callback's route (its token is the host thread's).
            inbox.push(Route::Callback, Position::Back, 1);
            let host = {
                let (inbox, tokens) = (Arc::clone(&inbox), Arc::clone(&receivers_tokens));
                loom::thread::spawn(move || {
                    let (place, message) = inbox.take(Route::Callback).expect("its message");
                    inbox.put(Route::Receivers, place, message);
                    lock(&tokens).push_back(());
                })
            };
            let worker = {
                let (inbox, tokens) = (Arc::clone(&inbox), Arc::clone(&receivers_tokens));
                loom::thread::spawn(move || {
                    inbox.push(Route::Receivers, Position::Front(MessagePriority::High), 2);
                    lock(&tokens).push_back(());
                })
            };
            let receiver = {
                let (inbox, tokens) = (Arc::clone(&inbox), Arc::clone(&receivers_tokens));
                loom::thread::spawn(move || receive(&tokens, &inbox, Route::Receivers))
            };
            let mut received: Vec<u32> = receiver.join().unwrap().into_iter().collect();
            host.join().unwrap();
            worker.join().unwrap();
            while let Some(message) = receive(&receivers_tokens, &inbox, Route::Receivers) {
                received.push(message);
            }
            received.sort_unstable();
            assert_eq!(received, [1, 2], "a message was lost or received twice");
            assert!(inbox.take_all().is_empty());
        });
    }
}
