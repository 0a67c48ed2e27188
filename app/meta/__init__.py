"""Everything that talks to Meta: the gateway (facebook-business SDK), the sandbox, the worker."""
