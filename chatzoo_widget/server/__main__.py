"""`python -m chatzoo_widget.server --pretrained_path smollm2-135m --port 8081`"""

from .cli import main

main()
