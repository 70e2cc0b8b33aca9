"""One file per command, orchestration only: plan, deploy, rolling, status, remove."""
