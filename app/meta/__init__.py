"""What talks to Meta: the gateway (facebook-business SDK), the parameters the SDK declares,
Meta's throttling as adgate records it, and Meta's ads webhooks."""
