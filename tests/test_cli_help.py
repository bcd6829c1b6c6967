"""Every `tagger` command's help is clean: each option and argument says what it is for, and flags carry
no type tag (`--quiet <bool>`)."""
import typer

from tagger.cli import app


def _commands(cmd, path=()):
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_every_command_help_is_clean():
    root = typer.main.get_command(app)
    seen = 0
    for path, cmd in _commands(root):
        ctx = typer.Context(cmd, info_name=" ".join(("tagger", *path)))
        text = cmd.get_help(ctx)
        assert "<bool>" not in text, (path, text)
        assert cmd.help or cmd.short_help, path  # the command says what it does
        for p in cmd.params:
            if p.name != "help":
                assert getattr(p, "help", None), (path, p.name)  # every option and argument is explained
        seen += 1
    assert seen > 25  # every command and group: run, tag, lf ..., tags ..., users ..., drift, serve
