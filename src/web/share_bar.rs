//! Share link, import and export: the scenario in the page URL's fragment (`crate::share`),
//! as a JSON file to download or open, and as code for a real broker (`crate::export`).

use std::rc::Rc;

use gloo::timers::callback::Timeout;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{HtmlAnchorElement, HtmlInputElement};
use yew::prelude::*;

use crate::scenario::{parse, Limits, Scenario};

#[derive(Debug, Clone, PartialEq, Properties)]
pub struct ShareBarProps {
    /// The scenario text to share or export.
    pub text: AttrValue,
    /// A scenario file the reader imported.
    pub on_import: Callback<String>,
    /// Keep the page URL's fragment in step with `text` (the app page only).
    pub url_fragment: bool,
}

/// Quiet time after the last edit before the URL is rewritten: typing does not flood the
/// browser's history machinery.
pub const FRAGMENT_DEBOUNCE_MS: u32 = 400;

/// Files larger than this are refused on import rather than read into memory.
pub const MAX_IMPORT_BYTES: f64 = 16.0 * 1024.0 * 1024.0;

/// What the bar last did, shown beside it.
#[derive(Debug, Clone, PartialEq)]
enum Status {
    Idle,
    /// The link, copied or not: `copied` says whether the clipboard took it.
    Link {
        url: String,
        copied: bool,
    },
    Error(String),
}

/// The page's URL without its fragment, followed by `#fragment`.
fn page_url_with(fragment: &str) -> Option<String> {
    let href = web_sys::window()?.location().href().ok()?;
    let base = href.split('#').next().unwrap_or(&href);
    Some(format!("{base}#{fragment}"))
}

/// A file name from the scenario's name: lowercase words joined by `-`.
pub fn file_stem(name: &str) -> String {
    let mut stem = String::new();
    for c in name.chars() {
        if c.is_alphanumeric() {
            stem.extend(c.to_lowercase());
        } else if !stem.is_empty() && !stem.ends_with('-') {
            stem.push('-');
        }
        if stem.len() >= 60 {
            break;
        }
    }
    let stem = stem.trim_end_matches('-');
    if stem.is_empty() {
        "scenario".into()
    } else {
        stem.into()
    }
}

/// Starts a download of `contents` as `file_name`.
fn download(file_name: &str, mime: &str, contents: &str) -> Result<(), String> {
    let fail = |what: &str, e: JsValue| format!("could not {what}: {e:?}");
    let window = web_sys::window().ok_or("no window")?;
    let document = window.document().ok_or("no document")?;
    let parts = js_sys::Array::of1(&JsValue::from_str(contents));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)
        .map_err(|e| fail("make the file", e))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)
        .map_err(|e| fail("make the file's address", e))?;
    let anchor: HtmlAnchorElement = document
        .create_element("a")
        .map_err(|e| fail("make a link", e))?
        .unchecked_into();
    anchor.set_href(&url);
    anchor.set_download(file_name);
    anchor.set_hidden(true);
    let body = document.body().ok_or("no body")?;
    let _ = body.append_child(&anchor);
    anchor.click();
    anchor.remove();
    // Revoked a moment later: some browsers read the address after the click returns.
    Timeout::new(1_000, move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    })
    .forget();
    Ok(())
}

/// Copies to the clipboard; `false` where there is none (insecure page, old browser) or the
/// reader refused.
async fn copy_to_clipboard(text: &str) -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let navigator = window.navigator();
    // `navigator.clipboard` is undefined outside secure contexts: check before calling.
    let has = js_sys::Reflect::get(&navigator, &JsValue::from_str("clipboard"))
        .is_ok_and(|c| !c.is_undefined() && !c.is_null());
    if !has {
        return false;
    }
    JsFuture::from(navigator.clipboard().write_text(text))
        .await
        .is_ok()
}

#[function_component(ShareBar)]
pub fn share_bar(props: &ShareBarProps) -> Html {
    let status = use_state(|| Status::Idle);
    let parsed: Rc<Option<Scenario>> = use_memo(props.text.clone(), |text| {
        parse(text, &Limits::default()).ok()
    });

    // The URL follows the text, a moment after the last edit.
    let pending = use_mut_ref(|| None::<Timeout>);
    {
        let pending = pending.clone();
        use_effect_with(
            (props.text.clone(), props.url_fragment),
            move |(text, enabled)| {
                if *enabled {
                    let text = text.clone();
                    *pending.borrow_mut() = Some(Timeout::new(FRAGMENT_DEBOUNCE_MS, move || {
                        sync_fragment(&text);
                    }));
                } else {
                    pending.borrow_mut().take();
                }
            },
        );
    }
    // A pending rewrite dies with the bar.
    {
        let pending = pending.clone();
        use_effect_with((), move |_| move || drop(pending.borrow_mut().take()));
    }

    let copy_link = {
        let status = status.clone();
        let text = props.text.clone();
        Callback::from(move |_: MouseEvent| {
            if let Some(message) = too_large_for_a_link(&text) {
                status.set(Status::Error(message));
                return;
            }
            let fragment = crate::share::encode(&text);
            let Some(url) = page_url_with(&fragment) else {
                status.set(Status::Error("this page has no address to share".into()));
                return;
            };
            let status = status.clone();
            spawn_local(async move {
                let copied = copy_to_clipboard(&url).await;
                status.set(Status::Link { url, copied });
            });
        })
    };

    let name = parsed
        .as_ref()
        .as_ref()
        .map_or_else(|| "scenario".to_owned(), |s| file_stem(&s.name));
    let export =
        |suffix: &'static str, mime: &'static str, make: Rc<dyn Fn() -> Option<String>>| {
            let status = status.clone();
            let file = format!("{name}{suffix}");
            Callback::from(move |_: MouseEvent| match make() {
                Some(contents) => {
                    if let Err(e) = download(&file, mime, &contents) {
                        status.set(Status::Error(e));
                    }
                }
                None => status.set(Status::Error(
                    "the scenario has errors: fix them to export it as code".into(),
                )),
            })
        };
    let text = props.text.clone();
    let export_json = export(
        ".json",
        "application/json",
        Rc::new(move || Some(text.to_string())),
    );
    let with_scenario = |f: fn(&Scenario) -> String| {
        let parsed = parsed.clone();
        Rc::new(move || parsed.as_ref().as_ref().map(f)) as Rc<dyn Fn() -> Option<String>>
    };
    let export_pika = export(
        ".py",
        "text/x-python",
        with_scenario(crate::export::to_pika),
    );
    let export_lapin = export(".rs", "text/x-rust", with_scenario(crate::export::to_lapin));
    let export_definitions = export(
        ".definitions.json",
        "application/json",
        with_scenario(crate::export::to_definitions),
    );

    let on_file = {
        let status = status.clone();
        let on_import = props.on_import.clone();
        Callback::from(move |e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            let Some(file) = input.files().and_then(|files| files.get(0)) else {
                return;
            };
            // The same file chosen again must fire `change` again.
            input.set_value("");
            if file.size() > MAX_IMPORT_BYTES {
                status.set(Status::Error(format!(
                    "{} is {:.1} MiB; at most {} MiB can be imported",
                    file.name(),
                    file.size() / 1048576.0,
                    MAX_IMPORT_BYTES / 1048576.0
                )));
                return;
            }
            let status = status.clone();
            let on_import = on_import.clone();
            spawn_local(async move {
                let result = JsFuture::from(file.text()).await;
                match result.ok().and_then(|v| v.as_string()) {
                    Some(text) => {
                        status.set(Status::Idle);
                        on_import.emit(text);
                    }
                    None => status.set(Status::Error(format!("could not read {}", file.name()))),
                }
            });
        })
    };

    let can_export_code = parsed.is_some();
    let code_title = if can_export_code {
        ""
    } else {
        "fix the scenario's errors first"
    };
    html! {
        <div class="share" role="toolbar" aria-label="Share, import and export">
            <button type="button" class="copy-link" onclick={copy_link}>{ "Copy link" }</button>
            <button type="button" class="export-json" onclick={export_json}>{ "Export JSON" }</button>
            <label class="import-json">
                { "Import JSON" }
                <input type="file" accept=".json,application/json" onchange={on_file} />
            </label>
            <span class="export-code">
                { "Export as " }
                <button type="button" class="export-pika" disabled={!can_export_code}
                    title={code_title} onclick={export_pika}>{ "pika" }</button>
                <button type="button" class="export-lapin" disabled={!can_export_code}
                    title={code_title} onclick={export_lapin}>{ "lapin" }</button>
                <button type="button" class="export-definitions" disabled={!can_export_code}
                    title={code_title} onclick={export_definitions}>{ "definitions" }</button>
            </span>
            { status_view(&status) }
        </div>
    }
}

fn status_view(status: &Status) -> Html {
    match status {
        Status::Idle => html! {},
        Status::Link { url, copied } => {
            let onfocus = Callback::from(|e: FocusEvent| {
                let input: HtmlInputElement = e.target_unchecked_into();
                input.select();
            });
            html! {
                <span class="share-status" role="status">
                    { if *copied { "Link copied. " } else { "Copy this link: " } }
                    <input class="share-link" type="text" readonly=true value={url.clone()}
                        aria-label="Share link" {onfocus} />
                    <span class="share-size">{ format!("{} characters", url.chars().count()) }</span>
                </span>
            }
        }
        Status::Error(message) => html! {
            <span class="share-status error" role="alert">{ message.clone() }</span>
        },
    }
}

/// Why `text` cannot travel in a link: a link that big would not open (`share::decode`
/// refuses it).
fn too_large_for_a_link(text: &str) -> Option<String> {
    (text.len() > crate::share::MAX_DECODED_BYTES).then(|| {
        format!(
            "the scenario is {} KiB, more than a link may carry ({} KiB): export it as a file",
            text.len() >> 10,
            crate::share::MAX_DECODED_BYTES >> 10
        )
    })
}

/// Writes `#s=...` for `text` into the address bar without adding a history entry. A scenario
/// too large for a link leaves the address as it is.
fn sync_fragment(text: &str) {
    let Some(window) = web_sys::window() else {
        return;
    };
    if too_large_for_a_link(text).is_some() {
        return;
    }
    let fragment = format!("#{}", crate::share::encode(text));
    if window.location().hash().ok().as_deref() == Some(fragment.as_str()) {
        return;
    }
    if let Ok(history) = window.history() {
        let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&fragment));
    }
}
