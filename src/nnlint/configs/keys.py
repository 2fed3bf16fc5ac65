"""What config keys mean, kept as data: the names frameworks and projects use for each
setting, the sane learning-rate range per optimizer, and the shapes of files that are not
training configs."""

from __future__ import annotations

LEARNING_RATE = frozenset({"lr", "learning_rate", "base_lr", "learningrate", "init_lr"})
BATCH_SIZE = frozenset(
    {
        "batch_size",
        "train_batch_size",
        "per_device_train_batch_size",
        "global_batch_size",
        "batchsize",
        "bs",
        "micro_batch_size",
    }
)
EPOCHS = frozenset(
    {"epochs", "max_epochs", "num_epochs", "n_epochs", "num_train_epochs", "nb_epoch", "epoch"}
)
OPTIMIZER = frozenset(
    {"optimizer", "optim", "optimiser", "opt", "optimizer_name", "optimizer_type"}
)
WEIGHT_DECAY = frozenset({"weight_decay", "wd", "l2", "weightdecay"})
SEED = frozenset({"seed", "random_seed", "seed_everything", "manual_seed", "rng_seed", "data_seed"})
CLIPPING = frozenset(
    {
        "gradient_clip_val",
        "max_grad_norm",
        "clip_grad_norm",
        "grad_clip",
        "clip_grad",
        "gradient_clipping",
        "clip_norm",
        "clipnorm",
        "clipvalue",
        "grad_norm_clip",
        "clip_value",
        "max_norm",
    }
)
LABEL_SMOOTHING = frozenset({"label_smoothing", "label_smoothing_factor"})
SHUFFLE = frozenset({"shuffle", "shuffle_train", "train_shuffle"})
# Steps that stop or bound a run other than by epoch count.
STEP_LIMITS = frozenset(
    {"max_steps", "max_time", "max_iters", "max_iter", "total_steps", "num_steps", "train_steps"}
)
EARLY_STOPPING_WORDS = ("early_stop", "earlystop", "patience", "load_best_model_at_end")
WARMUP_WORDS = ("warmup", "warm_up")
RECURRENT_WORDS = ("lstm", "gru", "rnn", "recurrent")
TRAINING_SIGNALS = (
    LEARNING_RATE
    | BATCH_SIZE
    | EPOCHS
    | OPTIMIZER
    | WEIGHT_DECAY
    | CLIPPING
    | LABEL_SMOOTHING
    | STEP_LIMITS
    | frozenset(
        {
            "trainer",
            "max_steps",
            "dropout",
            "momentum",
            "warmup_steps",
            "warmup_ratio",
            "lr_scheduler",
            "scheduler",
            "accumulate_grad_batches",
            "gradient_accumulation_steps",
            "early_stopping",
            "num_workers",
            "eval_strategy",
            "evaluation_strategy",
        }
    )
)

# Optimizers whose `weight_decay` is an L2 term added to the gradient, not decoupled decay.
COUPLED_DECAY_OPTIMIZERS = frozenset({"adam", "nadam", "radam", "adamax"})

MAX_DROPOUT = 0.5
MAX_LABEL_SMOOTHING = 0.3
HUGE_EPOCHS = 1000
LARGE_BATCH = 1024

# File names that are never training configs.
UNRELATED_NAMES = frozenset(
    {
        ".pre-commit-config.yaml",
        ".pre-commit-hooks.yaml",
        "package.json",
        "package-lock.json",
        "composer.json",
        "docker-compose.yml",
        "docker-compose.yaml",
        "compose.yml",
        "compose.yaml",
        ".gitlab-ci.yml",
        ".readthedocs.yaml",
        ".readthedocs.yml",
        "mkdocs.yml",
        "codecov.yml",
        ".codecov.yml",
        "dependabot.yml",
        "renovate.json",
        ".eslintrc.json",
        ".prettierrc.json",
        "environment.yml",
        "environment.yaml",
        "chart.yaml",
        "pnpm-lock.yaml",
        "pubspec.yaml",
        "swagger.json",
        "openapi.json",
        "openapi.yaml",
        "citation.cff",
        "_config.yml",
    }
)
UNRELATED_PREFIXES = ("tsconfig", "jsconfig", "docker-compose", ".eslintrc", "appsettings")
UNRELATED_FOLDERS = frozenset({".github", ".circleci", ".vscode", ".idea", ".devcontainer"})
# Top-level keys that together mark a file as something else (all keys of a set present).
UNRELATED_SHAPES = (
    frozenset({"apiVersion", "kind"}),  # Kubernetes, Helm templates
    frozenset({"jobs", "on"}),  # GitHub Actions
    frozenset({"jobs", "True"}),  # ... with YAML 1.1 reading `on:` as true
    frozenset({"services"}),  # docker-compose
    frozenset({"repos"}),  # pre-commit
    frozenset({"compilerOptions"}),  # tsconfig
    frozenset({"$schema"}),  # a JSON Schema
    frozenset({"name", "version", "dependencies"}),  # package.json
    frozenset({"name", "version", "scripts"}),
    frozenset({"steps", "trigger"}),  # Azure Pipelines
    frozenset({"stages"}),  # GitLab CI
    frozenset({"hosts", "tasks"}),  # Ansible
    frozenset({"openapi", "paths"}),
    frozenset({"swagger", "paths"}),
    frozenset({"cells", "nbformat"}),  # a notebook saved as JSON
)
