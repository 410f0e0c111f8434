"""Master users: change detection, the transactional outbox and its relay to SNS."""
