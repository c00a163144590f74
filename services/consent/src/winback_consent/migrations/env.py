from winback_shared.db.migrate import run_env

run_env("consent")
