"""What a changed file is, from its path alone: lockfile, vendored, documentation, test, deployment,
front-end, code. Mining filters and classifies changes with these."""

from __future__ import annotations

from pathlib import PurePosixPath

LOCKFILES = {
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "npm-shrinkwrap.json",
    "poetry.lock",
    "Pipfile.lock",
    "uv.lock",
    "Cargo.lock",
    "Gemfile.lock",
    "composer.lock",
    "go.sum",
    "mix.lock",
    "pubspec.lock",
    "flake.lock",
}
VENDORED_DIRS = {"vendor", "vendored", "_vendor", "third_party", "third-party", "node_modules", "external"}
DOC_SUFFIXES = {".md", ".markdown", ".rst", ".txt", ".adoc"}
DOC_DIRS = {"docs", "doc"}
DOC_NAMES = {"LICENSE", "CHANGELOG", "AUTHORS", "NOTICE", "CONTRIBUTORS"}
TEST_DIRS = {"test", "tests", "__tests__", "spec", "specs", "testing"}
DEPLOY_DIRS = {".github", ".circleci", "deploy", "deployment", "k8s", "helm", "terraform", "ansible", "infra"}
DEPLOY_NAMES = {
    "Dockerfile",
    "docker-compose.yml",
    "docker-compose.yaml",
    "compose.yaml",
    "Makefile",
    "Procfile",
    "Jenkinsfile",
    ".gitlab-ci.yml",
    ".travis.yml",
    "netlify.toml",
    "vercel.json",
    "fly.toml",
}
FRONTEND_SUFFIXES = {".js", ".jsx", ".ts", ".tsx", ".vue", ".svelte", ".css", ".scss", ".sass", ".less", ".html"}
FRONTEND_DIRS = {"frontend", "web", "ui", "components", "client", "static", "pages"}
CODE_SUFFIXES = FRONTEND_SUFFIXES | {
    ".py",
    ".pyi",
    ".go",
    ".rs",
    ".java",
    ".kt",
    ".scala",
    ".c",
    ".h",
    ".cc",
    ".cpp",
    ".hpp",
    ".cs",
    ".rb",
    ".php",
    ".swift",
    ".m",
    ".sh",
    ".bash",
    ".sql",
    ".lua",
    ".ex",
    ".exs",
    ".erl",
    ".hs",
    ".ml",
    ".clj",
    ".dart",
    ".r",
    ".jl",
    ".zig",
    ".tf",
    ".proto",
}


def _path(name: str) -> PurePosixPath:
    return PurePosixPath(name)


def is_lock_or_vendored(name: str) -> bool:
    path = _path(name)
    return path.name in LOCKFILES or bool(VENDORED_DIRS & set(path.parts[:-1])) or ".min." in path.name


def is_doc(name: str) -> bool:
    path = _path(name)
    return path.suffix.lower() in DOC_SUFFIXES or path.parts[0] in DOC_DIRS or path.stem.upper() in DOC_NAMES


def is_test(name: str) -> bool:
    path = _path(name)
    stem = path.stem.lower()
    return (
        bool(TEST_DIRS & set(path.parts[:-1]))
        or stem.startswith("test_")
        or stem.endswith(("_test", ".test", ".spec", "_spec"))
    )


def is_deploy(name: str) -> bool:
    path = _path(name)
    return path.name in DEPLOY_NAMES or path.name.startswith("Dockerfile") or bool(DEPLOY_DIRS & set(path.parts))


def is_frontend(name: str) -> bool:
    path = _path(name)
    return path.suffix.lower() in FRONTEND_SUFFIXES or bool(FRONTEND_DIRS & set(path.parts[:-1]))


def is_code(name: str) -> bool:
    """Source code, build or deployment files: what a coding task changes."""
    return not is_doc(name) and (_path(name).suffix.lower() in CODE_SUFFIXES or is_deploy(name))
