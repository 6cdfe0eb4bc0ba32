//! AMQP errors as RabbitMQ raises them: a reply code and text, closing a channel or, for the
//! "hard" codes, the whole connection.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpError {
    pub code: u16,
    pub text: String,
}

impl AmqpError {
    fn new(code: u16, name: &str, detail: impl std::fmt::Display) -> Self {
        AmqpError {
            code,
            text: format!("{name} - {detail}"),
        }
    }

    /// Hard errors close the connection; the rest close only the channel.
    pub fn closes_connection(&self) -> bool {
        matches!(self.code, 320 | 402 | 501..=506 | 530 | 540 | 541)
    }

    pub fn access_refused(detail: impl std::fmt::Display) -> Self {
        Self::new(403, "ACCESS_REFUSED", detail)
    }

    pub fn not_found(detail: impl std::fmt::Display) -> Self {
        Self::new(404, "NOT_FOUND", detail)
    }

    pub fn resource_locked(detail: impl std::fmt::Display) -> Self {
        Self::new(405, "RESOURCE_LOCKED", detail)
    }

    pub fn precondition_failed(detail: impl std::fmt::Display) -> Self {
        Self::new(406, "PRECONDITION_FAILED", detail)
    }

    pub fn channel_error(detail: impl std::fmt::Display) -> Self {
        Self::new(504, "CHANNEL_ERROR", detail)
    }

    pub fn not_allowed(detail: impl std::fmt::Display) -> Self {
        Self::new(530, "NOT_ALLOWED", detail)
    }

    pub fn not_implemented(detail: impl std::fmt::Display) -> Self {
        Self::new(540, "NOT_IMPLEMENTED", detail)
    }

    pub fn no_queue(name: &str) -> Self {
        Self::not_found(format_args!("no queue '{name}' in vhost '/'"))
    }

    pub fn no_exchange(name: &str) -> Self {
        Self::not_found(format_args!("no exchange '{name}' in vhost '/'"))
    }

    pub fn locked_queue(name: &str) -> Self {
        Self::resource_locked(format_args!(
            "cannot obtain exclusive access to locked queue '{name}' in vhost '/'. It could be \
             originally declared on another connection or its exclusive property value does not \
             match that of the original declaration."
        ))
    }

    pub fn default_exchange() -> Self {
        Self::access_refused("operation not permitted on the default exchange")
    }

    pub fn inequivalent(what: &str, name: &str, arg: &str, received: &str, current: &str) -> Self {
        Self::precondition_failed(format_args!(
            "inequivalent arg '{arg}' for {what} '{name}' in vhost '/': received {received} but current is {current}"
        ))
    }
}
