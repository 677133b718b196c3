"""What the end-to-end tests share besides fixtures (see conftest.py): the day they run and how
to reach the session's S3 server."""

import datetime as dt

from clicklake.config import S3Settings

D = dt.date(2026, 11, 28)


def s3_settings(env) -> S3Settings:
    return S3Settings(env["AWS_ENDPOINT_URL_S3"], env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_REGION"])
