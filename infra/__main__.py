"""The HallCloud Pulumi program: stack config -> validated hall spec -> resources; exports only.

Nothing is created when the config is invalid: :func:`infra.spec.load_spec` refuses it first, with one
line per problem naming the config path and the fix.
"""

import pulumi

from infra.config import spec_from_pulumi_config
from infra.deploy import deploy

hall = deploy(spec_from_pulumi_config())
for key, value in hall.exports().items():
    pulumi.export(key, value)
