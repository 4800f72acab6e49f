"""The package's shape: util.py is a short front door, modules and functions are small,
there is no import cycle, a family imports no training or reporting, importing does no
work, the README's Layout section names every module, no benchmark imports another script,
and every relative link of the README and docs/ resolves."""
import ast
import glob
import os
import re
import subprocess
import sys

from conftest import ROOT

PACKAGE = os.path.join(ROOT, "pixelbayes")


def modules():
    """{dotted name: (path, the package modules it imports)} from the source, no import."""
    out = {}
    for path in sorted(glob.glob(os.path.join(PACKAGE, "**", "*.py"), recursive=True)):
        rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
        name = rel[:-len(".__init__")] if rel.endswith(".__init__") else rel
        here = name.split(".") if path.endswith("__init__.py") else name.split(".")[:-1]
        deps = set()
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else []))
                deps |= {f"{base}.{a.name}" for a in node.names} if node.module is None else {base}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pixelbayes"):
                deps.add(node.module)
        out[name] = (path, deps)
    return out


def test_modules_and_functions_are_small_and_util_is_a_front_door():
    assert len(open(os.path.join(ROOT, "util.py")).read().splitlines()) <= 80
    for name, (path, _) in modules().items():
        tree = ast.parse(open(path).read())
        assert len(open(path).read().splitlines()) <= 400, name
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno + 1 <= 50, (name, node.name)
    for script in ("train_mnist.py", "generate_mnist.py", "classification.py", "demo.py"):
        source = open(os.path.join(ROOT, script)).read()
        assert len(source.splitlines()) < 100 and "pixelbayes" not in source, script


def test_there_is_no_import_cycle_and_families_stay_apart():
    graph = {name: {d for d in deps if d != name} for name, (_, deps) in modules().items()}
    assert graph["pixelbayes.families.gru"] and graph["pixelbayes.modelfiles"]      # the walk found imports
    done, active = set(), []

    def visit(node):
        assert node not in active, "import cycle: " + " -> ".join(active + [node])
        if node in done:
            return
        active.append(node)
        for dep in graph.get(node, ()):
            visit(dep)
        active.pop()
        done.add(node)
    for node in graph:
        visit(node)
    for name, deps in graph.items():
        if name.startswith("pixelbayes.families"):
            assert not deps & {"pixelbayes.training", "pixelbayes.report", "pixelbayes.cli"}, name


def test_importing_the_front_door_does_no_work():
    code = ("import sys; sys.path.insert(0, %r); import util; "
            "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'skimage', 'PIL', 'h5py') if m in sys.modules))"
            % ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_readme_layout_names_every_module():
    readme = open(os.path.join(ROOT, "README.md")).read()
    layout = readme[readme.index("## Layout"):]
    layout = layout[:layout.index("\n## ", 4)]
    for name, (path, _) in modules().items():
        rel = os.path.relpath(path, ROOT).replace(os.sep, "/")
        shown = os.path.dirname(rel) + "/" if rel.startswith("pixelbayes/families/") else rel
        assert f"`{shown}`" in layout or os.path.basename(rel) in layout, rel


def test_no_benchmark_or_experiment_imports_another_script():
    """Benchmarks and experiments share code through the package (pixelbayes.evaluation),
    never by importing each other or the three scripts."""
    scripts = {os.path.basename(p)[:-3] for folder in ("benchmarks", "experiments", "")
               for p in glob.glob(os.path.join(ROOT, folder, "*.py"))} - {"util", "config"}
    for path in glob.glob(os.path.join(ROOT, "benchmarks", "*.py")) + glob.glob(os.path.join(ROOT, "experiments", "*.py")):
        for node in ast.walk(ast.parse(open(path).read())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            assert not {n.split(".")[0] for n in names} & scripts, (path, names)


def anchor(heading):
    """The #anchor a Markdown renderer gives a heading: lower case, punctuation dropped, spaces as dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_every_relative_link_of_the_readme_and_docs_resolves():
    """Each link to a file of the repository names one that exists, and each #anchor a
    heading of the page it points to."""
    pages = [os.path.join(ROOT, "README.md")] + glob.glob(os.path.join(ROOT, "docs", "**", "*.md"), recursive=True) \
        + glob.glob(os.path.join(ROOT, "experiments", "*.md"))
    assert len(pages) > 3
    checked = 0
    for page in pages:
        text = re.sub(r"```.*?```", "", open(page).read(), flags=re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue                                    # a web address
            path, _, frag = target.partition("#")
            full = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
            assert os.path.exists(full), (page, target)
            if frag:
                headings = re.findall(r"^#+ (.*)$", re.sub(r"```.*?```", "", open(full).read(), flags=re.S), re.M)
                assert frag in {anchor(h) for h in headings}, (page, target)
            checked += 1
    assert checked > 20
