"""Reference service stacks that use cdk-restart-policy as a platform team would."""
