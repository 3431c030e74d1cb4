"""`python -m ddps_eval`: prints the versions ddps found, as one JSON line (a health check)."""
import json
import os
import sys

import torch
import torchvision

# Debian's torch starts with one thread; ddps passes the count it wants.
if "DDPS_THREADS" in os.environ:
    torch.set_num_threads(int(os.environ["DDPS_THREADS"]))

print(json.dumps({"python": sys.version.split()[0], "torch": torch.__version__, "torchvision": torchvision.__version__,
                  "threads": torch.get_num_threads()}))
