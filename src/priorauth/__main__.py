from priorauth.cli import app

app(prog_name="priorauth")
