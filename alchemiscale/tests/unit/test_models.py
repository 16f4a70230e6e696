import pytest

from alchemiscale.models import ComputeManagerID, ComputeServiceID, Scope, ScopedKey, minimize_scopes


class TestScope:
    @pytest.mark.parametrize(
        "string, parts",
        [
            ("org-campaign-project", ("org", "campaign", "project")),
            ("org-campaign-*", ("org", "campaign", None)),
            ("org-*-*", ("org", None, None)),
            ("*-*-*", (None, None, None)),
            ("o_1-c2-P3", ("o_1", "c2", "P3")),
        ],
    )
    def test_from_str_round_trip(self, string, parts):
        scope = Scope.from_str(string)
        assert scope.to_tuple() == parts
        assert str(scope) == string
        assert Scope.from_str(str(scope)) == scope

    @pytest.mark.parametrize(
        "string, bad_part",
        [
            ("*-campaign-*", "org"),
            ("*-*-project", "org"),
            ("org-*-project", "campaign"),
            ("1org-c-p", "org"),
            ("org-_c-p", "campaign"),
            ("org-c-p q", "project"),
            ("org-c-p\n", "project"),
            ("org-c-", "project"),
            ("org-cämpaign-p", "campaign"),  # non-ASCII letter
            ("org-c-ｐ", "project"),  # full-width Latin letter
            ("o'rg-c-p", "org"),
            ('org-c-x") DETACH DELETE n //', "project"),
        ],
    )
    def test_invalid_part_named(self, string, bad_part):
        with pytest.raises(ValueError, match=bad_part):
            Scope.from_str(string)

    @pytest.mark.parametrize("string", ["org-campaign", "org-c-p-x", "", "org"])
    def test_wrong_number_of_parts(self, string):
        with pytest.raises(ValueError, match="3 parts"):
            Scope.from_str(string)

    def test_not_a_string(self):
        with pytest.raises(ValueError):
            Scope.from_str(42)

    def test_nfc_normalization_does_not_admit_non_ascii(self):
        # "e" + combining acute accent normalizes to "é", which is still rejected
        with pytest.raises(ValueError, match="org"):
            Scope.from_str("cafe\u0301-c-p")

    def test_specific(self):
        assert Scope("a", "b", "c").specific()
        assert not Scope("a", "b").specific()
        assert not Scope().specific()

    @pytest.mark.parametrize(
        "sup, sub, expected",
        [
            ("*-*-*", "a-b-c", True),
            ("a-*-*", "a-b-c", True),
            ("a-b-*", "a-b-c", True),
            ("a-b-c", "a-b-c", True),
            ("a-b-c", "a-b-*", False),
            ("a-*-*", "b-*-*", False),
            ("a-b-*", "a-c-d", False),
            ("a-b-c", "*-*-*", False),
        ],
    )
    def test_is_superset(self, sup, sub, expected):
        assert Scope.from_str(sup).is_superset(Scope.from_str(sub)) is expected

    def test_hash_eq_ordering(self):
        assert len({Scope("a", "b", "c"), Scope.from_str("a-b-c")}) == 1
        assert sorted([Scope("b"), Scope("a", "b", "c")]) == [Scope("a", "b", "c"), Scope("b")]

    def test_dict_round_trip(self):
        scope = Scope("a", "b")
        assert Scope(**scope.to_dict()) == scope

    def test_frozen(self):
        with pytest.raises(Exception):
            Scope("a", "b", "c").org = "x"

    def test_minimize_scopes(self):
        scopes = [Scope.from_str(s) for s in ["a-b-c", "a-*-*", "b-c-d", "b-c-*", "a-b-*"]]
        assert minimize_scopes(scopes) == [Scope("a"), Scope("b", "c")]


class TestScopedKey:
    def test_round_trip(self):
        sk = ScopedKey.from_str("Transformation-0123abcd-org-campaign-project")
        assert sk.gufe_key == "Transformation-0123abcd"
        assert sk.qualname == "Transformation"
        assert sk.scope == Scope("org", "campaign", "project")
        assert str(sk) == "Transformation-0123abcd-org-campaign-project"
        assert ScopedKey.from_dict(sk.to_dict()) == sk
        assert ScopedKey.from_str(sk) is sk

    @pytest.mark.parametrize(
        "string, match",
        [
            ("Transformation-abc-org-campaign", "5 parts"),
            ("Transformation-abc-org-campaign-project-x", "5 parts"),
            ("Transformation-abc-org-*-project", "campaign"),
            ("Transformation-abc-org-campaign-*", "project"),
            ("Trans.formation-abc-org-campaign-project", "gufe key"),
            ("Transformation-a b-org-campaign-project", "gufe key"),
            ("Transformation-abc-1org-campaign-project", "org"),
            ("Transformation-abc-org-campaign-pröject", "project"),
            ('Transformation-abc-org-campaign-x")//', "project"),
            ("-abc-org-campaign-project", "gufe key"),
            ("Transformation--org-campaign-project", "gufe key"),
        ],
    )
    def test_invalid(self, string, match):
        with pytest.raises(ValueError, match=match):
            ScopedKey.from_str(string)

    def test_requires_specific_scope(self):
        with pytest.raises(ValueError, match="specific"):
            ScopedKey(gufe_key="Task-abc", org="o", campaign=None, project=None)

    def test_hash_and_ordering(self):
        a = ScopedKey.from_str("Task-a-o-c-p")
        b = ScopedKey.from_str("Task-b-o-c-p")
        assert len({a, ScopedKey.from_str(str(a))}) == 1
        assert sorted([b, a]) == [a, b]


class TestServiceIDs:
    @pytest.mark.parametrize("cls", [ComputeServiceID, ComputeManagerID])
    def test_new_from_name(self, cls):
        ident = cls.new_from_name("gpu.node:1_a")
        assert ident.name == "gpu.node:1_a"
        assert len(ident.uuid) == 32
        assert cls(str(ident)) == ident

    @pytest.mark.parametrize("name", ["with-dash", "1abc", "", "sp ace", "ünï"])
    def test_bad_names(self, name):
        with pytest.raises(ValueError, match="name"):
            ComputeServiceID.new_from_name(name)

    @pytest.mark.parametrize(
        "value", ["service", "service-1234", "service-" + "g" * 32, "-" + "a" * 32, "svc-" + "A" * 32]
    )
    def test_bad_ids(self, value):
        with pytest.raises(ValueError):
            ComputeServiceID(value)
