//! One writer per playground id, across tabs and embeds on one page.
//!
//! The owner holds the Web Lock `queue-playground/<id>` for its whole life (requested with
//! `ifAvailable`, so a second instance learns at once that it is not the owner). Taking over
//! requests it with `steal`: the browser hands it over and rejects the previous holder's
//! request, and a message on the BroadcastChannel of the same name tells the previous owner
//! too. Where `navigator.locks` is missing, the channel alone decides: a newcomer asks who
//! owns the id and becomes the owner if nobody answers in time.
//!
//! Either way two instances can believe they own the store for a moment (the lock is stolen
//! before the previous owner hears of it; two newcomers ask at once). The store closes that
//! window itself: every write checks the owner token in the same transaction
//! ([`super::indexeddb::IdbStore::claim`]).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{BroadcastChannel, MessageEvent};

#[wasm_bindgen]
extern "C" {
    /// `navigator.locks` (web-sys only has it behind its unstable cfg).
    type LockManager;
    #[wasm_bindgen(method, js_name = request)]
    fn request(this: &LockManager, name: &str, options: &Object, callback: &JsValue) -> Promise;
}

/// How long a newcomer waits for an owner to answer when only the channel decides.
const ANSWER_MS: i32 = 150;

/// A promise and the function that resolves it.
fn deferred() -> (Promise, Function) {
    let mut resolver = None;
    let promise = Promise::new(&mut |resolve, _| resolver = Some(resolve));
    (promise, resolver.expect("the executor runs at once"))
}

/// Resolves after `ms` milliseconds (at once where there is no window).
pub(crate) async fn sleep(ms: i32) {
    let (promise, resolve) = deferred();
    match web_sys::window() {
        Some(w) => {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
        }
        None => {
            let _ = resolve.call0(&JsValue::NULL);
        }
    }
    let _ = JsFuture::from(promise).await;
}

fn lock_manager() -> Option<LockManager> {
    let navigator = Reflect::get(&js_sys::global(), &JsValue::from_str("navigator")).ok()?;
    let locks = Reflect::get(&navigator, &JsValue::from_str("locks")).ok()?;
    (!locks.is_undefined() && !locks.is_null()).then(|| locks.unchecked_into())
}

/// How instances decide who owns a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arbiter {
    /// `navigator.locks`, with the channel to tell a previous owner it lost.
    WebLocks,
    /// The BroadcastChannel alone (browsers without Web Locks).
    Channel,
}

struct Shared {
    owner: Cell<bool>,
    token: String,
    /// Resolving it releases the held lock.
    release: RefCell<Option<Function>>,
    on_lost: Box<dyn Fn()>,
    channel: Option<BroadcastChannel>,
}

impl Shared {
    fn lose(&self) {
        if self.owner.replace(false) {
            if let Some(release) = self.release.borrow_mut().take() {
                let _ = release.call0(&JsValue::NULL);
            }
            (self.on_lost)();
        }
    }

    fn post(&self, message: &str) {
        if let Some(c) = &self.channel {
            let _ = c.post_message(&JsValue::from_str(message));
        }
    }
}

/// This instance's part in deciding who writes the store of one id.
pub struct Ownership {
    name: String,
    shared: Rc<Shared>,
    locks: Option<LockManager>,
    _on_message: Option<Closure<dyn FnMut(MessageEvent)>>,
}

impl std::fmt::Debug for Ownership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ownership")
            .field("name", &self.name)
            .field("owner", &self.shared.owner.get())
            .finish()
    }
}

impl Ownership {
    /// Joins the instances of `name`: the owner if no other instance is. `on_lost` runs when
    /// another instance takes over. Web Locks decide where the browser has them.
    pub async fn acquire(name: &str, on_lost: impl Fn() + 'static) -> Ownership {
        let arbiter = match lock_manager() {
            Some(_) => Arbiter::WebLocks,
            None => Arbiter::Channel,
        };
        Self::acquire_with(name, arbiter, on_lost).await
    }

    /// [`Ownership::acquire`] with a chosen way of deciding (instances of one name must all
    /// use the same).
    pub async fn acquire_with(
        name: &str,
        arbiter: Arbiter,
        on_lost: impl Fn() + 'static,
    ) -> Ownership {
        let token = format!(
            "{:x}{:x}",
            (js_sys::Math::random() * 2f64.powi(52)) as u64,
            js_sys::Date::now() as u64
        );
        let shared = Rc::new(Shared {
            owner: Cell::new(false),
            token,
            release: RefCell::new(None),
            on_lost: Box::new(on_lost),
            channel: BroadcastChannel::new(name).ok(),
        });
        let answered = Rc::new(Cell::new(false));
        let on_message = shared.channel.as_ref().map(|channel| {
            let (shared, answered) = (Rc::downgrade(&shared), answered.clone());
            let closure = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                let data = e.data().as_string().unwrap_or_default();
                match data.split_once(':') {
                    Some(("who", _)) if shared.owner.get() => shared.post("here:"),
                    Some(("here", _)) => answered.set(true),
                    Some(("taken", by)) if by != shared.token => shared.lose(),
                    _ => {}
                }
            });
            channel.set_onmessage(Some(closure.as_ref().unchecked_ref()));
            closure
        });
        let ownership = Ownership {
            name: name.to_owned(),
            shared,
            locks: match arbiter {
                Arbiter::WebLocks => lock_manager(),
                Arbiter::Channel => None,
            },
            _on_message: on_message,
        };
        let owner = match &ownership.locks {
            Some(locks) => ownership.request(locks, false).await,
            None => {
                ownership.shared.post("who:");
                sleep(ANSWER_MS).await;
                !answered.get()
            }
        };
        ownership.shared.owner.set(owner);
        ownership
    }

    /// Requests the lock (stealing it, or only if free) and holds it if granted.
    async fn request(&self, locks: &LockManager, steal: bool) -> bool {
        let options = Object::new();
        let flag = if steal { "steal" } else { "ifAvailable" };
        let _ = Reflect::set(&options, &JsValue::from_str(flag), &JsValue::TRUE);
        let (decided, decide) = deferred();
        let (held, release) = deferred();
        let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
            let granted = !lock.is_null() && !lock.is_undefined();
            let _ = decide.call1(&JsValue::NULL, &JsValue::from_bool(granted));
            if granted {
                held.into()
            } else {
                JsValue::UNDEFINED
            }
        });
        let request = locks.request(&self.name, &options, &callback);
        // The request settles when the lock is let go: rejected if another instance stole it.
        let shared = Rc::downgrade(&self.shared);
        let on_stolen = Closure::<dyn FnMut(JsValue)>::once(move |_: JsValue| {
            if let Some(shared) = shared.upgrade() {
                shared.lose();
            }
        });
        let _ = request.catch(&on_stolen);
        // Lives as long as the request: JavaScript calls it at most once, possibly never.
        on_stolen.forget();
        let granted = JsFuture::from(decided)
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        if granted {
            *self.shared.release.borrow_mut() = Some(release);
        }
        granted
    }

    pub fn is_owner(&self) -> bool {
        self.shared.owner.get()
    }

    /// This instance's owner token: what it writes into the store when it owns it.
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// Makes this instance the owner; the previous one is told and turns read-only.
    pub async fn take_over(&self) {
        if self.is_owner() {
            return;
        }
        if let Some(locks) = &self.locks {
            self.request(locks, true).await;
        }
        self.shared.owner.set(true);
        self.shared.post(&format!("taken:{}", self.shared.token));
    }
}

impl Drop for Ownership {
    fn drop(&mut self) {
        self.shared.owner.set(false);
        if let Some(release) = self.shared.release.borrow_mut().take() {
            let _ = release.call0(&JsValue::NULL);
        }
        if let Some(c) = &self.shared.channel {
            c.set_onmessage(None);
            c.close();
        }
    }
}
