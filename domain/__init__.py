"""The policy's pure rules: vocabulary, policy model, working-day calendar and deadlines."""
