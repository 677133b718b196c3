"""What the end-to-end tests need to reach the session's S3 server (see conftest.s3_env)."""

from clicklake.config import S3Settings


def s3_settings(env) -> S3Settings:
    return S3Settings(env["AWS_ENDPOINT_URL_S3"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_REGION"])
