//! Running scenarios on a real RabbitMQ (under construction).
