"""engines.spark's Kerberos pieces: what [security] adds to spark-submit's command and environment."""

from __future__ import annotations

from engines.spark import kerberos_env, kerberos_java_conf, kerberos_submit_args
from workbench_plugin.config import SecuritySettings

KRB5 = "/etc/cluster/krb5.conf"
OPTION = f"-Djava.security.krb5.conf={KRB5}"


def test_open_cluster_adds_nothing() -> None:
    open_ = SecuritySettings()
    assert kerberos_submit_args(open_) == []
    assert kerberos_java_conf(open_, {}) == {}
    assert kerberos_env(open_, {}) == {}


def test_keytab_login_and_krb5_conf() -> None:
    security = SecuritySettings(auth="kerberos", principal="alice@EXAMPLE.COM", keytab="/k/alice.keytab",
                                krb5_conf=KRB5)
    assert kerberos_submit_args(security) == ["--principal", "alice@EXAMPLE.COM", "--keytab", "/k/alice.keytab"]
    conf = kerberos_java_conf(security, {"spark.driver.extraJavaOptions": "-Xss4m"})
    assert conf["spark.driver.extraJavaOptions"] == f"-Xss4m {OPTION}"  # appended, not replaced
    assert conf["spark.executor.extraJavaOptions"] == OPTION
    assert conf["spark.yarn.am.extraJavaOptions"] == OPTION
    env = kerberos_env(security, {"SPARK_SUBMIT_OPTS": "-Dx=1"})
    assert env == {"KRB5_CONFIG": KRB5, "SPARK_SUBMIT_OPTS": f"-Dx=1 {OPTION}"}


def test_ticket_cache_without_krb5_conf() -> None:
    # kerberos without a keytab: spark-submit uses the ticket cache; no krb5.conf: the JVM default
    security = SecuritySettings(auth="kerberos", principal="alice@EXAMPLE.COM")
    assert kerberos_submit_args(security) == []
    assert kerberos_java_conf(security, {}) == {}
    assert kerberos_env(security, {}) == {}
