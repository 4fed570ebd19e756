# The default AWS Batch job image for Explorer (compute = "batch").
#
# Every element of an analysis runs in a container of this image as
#     python -m explorer_magics.runner --analysis <id> --user <user>
# (the job definition's command; Batch fills in the two parameters and sets
# AWS_BATCH_JOB_ARRAY_INDEX, which picks the element). The container reads its inputs from and
# writes its outputs to S3 with the job role's credentials; nothing else is baked in.
#
# Work functions travel pickled by value (cloudpickle), so the image's Python must be the
# notebook's minor version (3.11 here) and cloudpickle the same major version.
#
# Build from the repository root and push where the compute environment can pull from, e.g.
#     docker build -t 123456789012.dkr.ecr.us-east-1.amazonaws.com/explorer-job:0.1.0 .
#     docker push 123456789012.dkr.ecr.us-east-1.amazonaws.com/explorer-job:0.1.0
# then set EXPLORER_BATCH_IMAGE (or [batch] image in the config file) to that name.
FROM python:3.11-slim

# samtools, bcftools and tabix/bgzip for genomics work functions (`!samtools view ...`) and for
# explorer_magics.shortcuts, which run them in every element; procps for `ps` in debugging.
RUN apt-get update \
    && apt-get install -y --no-install-recommends samtools bcftools tabix procps ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# What the runner needs at run time (not JupyterLab): keep in step with pyproject.toml.
RUN pip install --no-cache-dir --disable-pip-version-check "boto3" "cloudpickle>=3,<4" "ipython>=8.12"

# Only the SDK: the server extension and the JupyterLab frontend have no use in a job.
COPY explorer_magics /opt/explorer/explorer_magics

# Unbuffered output reaches CloudWatch Logs as it is printed; EXPLORER_HOME is where
# pip_packages are installed at start (writable by the job's user).
ENV PYTHONPATH=/opt/explorer \
    PYTHONUNBUFFERED=1 \
    EXPLORER_HOME=/tmp/explorer

RUN useradd --create-home --uid 1000 explorer \
    && python -c "import explorer_magics.runner, explorer_magics.compute.batch, explorer_magics.shortcuts" \
    && samtools --version && bcftools --version && tabix --version
USER explorer
WORKDIR /home/explorer

# AWS Batch runs the job definition's command; this default only documents the entry point.
CMD ["python", "-m", "explorer_magics.runner", "--help"]
