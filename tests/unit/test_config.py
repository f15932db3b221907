"""Settings: the specification's values by default, the environment's when set, clear errors otherwise."""
import pytest

from weather.common.config import ConfigError, Settings


def test_defaults_are_the_specifications_docker_environment():
    settings = Settings.from_env(env={"PROJECT": "x9"})
    assert settings.db_url == "mysql+mysqlconnector://root:abc@x9-mysql-1:3306/CS544"
    assert Settings.from_env(db_host="mysql", env={}).db_url == "mysql+mysqlconnector://root:abc@mysql:3306/CS544"
    assert (settings.topic, settings.partitions, settings.replication_factor) == ("temperatures", 4, 1)
    assert (settings.generator_delay, settings.debug_group, settings.checkpoint_dir) == (0.1, "debug", "/")


def test_the_environment_overrides_the_pipelines_knobs():
    settings = Settings.from_env(env={"AUTOGRADER_DELAY_OVERRIDE_VAL": "0.01", "PRODUCER_PAGE_SIZE": "50",
                                      "STARTUP_WAIT_SECONDS": "2.5", "DEBUG_GROUP_ID": "g"})
    assert (settings.generator_delay, settings.page_size, settings.startup_wait, settings.debug_group) == \
        (0.01, 50, 2.5, "g")


@pytest.mark.parametrize("name, value", [("AUTOGRADER_DELAY_OVERRIDE_VAL", "fast"), ("STARTUP_WAIT_SECONDS", "-1"),
                                         ("PRODUCER_PAGE_SIZE", "0"), ("TOPIC_PARTITIONS", "four")])
def test_an_unusable_value_names_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(env={name: value})


def test_the_locks_stay_on_this_machine_when_the_checkpoints_are_on_hdfs():
    import tempfile
    settings = Settings.from_env(env={"CHECKPOINT_DIR": "hdfs://nn:9000/checkpoints"})
    assert settings.checkpoint_dir == "hdfs://nn:9000/checkpoints"
    assert settings.lock_dir.startswith(tempfile.gettempdir())
    assert Settings.from_env(env={"CHECKPOINT_DIR": "/var/cp"}).lock_dir == "/var/cp"
    assert Settings.from_env(env={"CHECKPOINT_DIR": "hdfs://nn:9000/c", "LOCK_DIR": "/l"}).lock_dir == "/l"


def test_checkpoints_at_a_file_url_keep_the_locks_beside_them():
    assert Settings.from_env(env={"CHECKPOINT_DIR": "file:///var/cp"}).lock_dir == "/var/cp"
