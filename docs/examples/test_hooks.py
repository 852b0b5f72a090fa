"""conftest.py's hooks at work (docs/plugin.md)."""


def test_the_built_hook_was_called(netlab, request):
    netlab.build("[netns.a.link.br0]\ntype = 'bridge'\n")
    assert ("topology", "<string>") in request.node.user_properties
