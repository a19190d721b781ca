"""``make demo``: the whole demo hall on the embedded default (the stack, the controller, its inventory and
simulated hall devices), and ``make demo-down``, which removes all of it."""
