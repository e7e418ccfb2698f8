# The image the Helm chart runs (helm/streamrec, image.repository:image.tag): `streamrec`
# and `streamrec-model` on Debian 12, built from Debian packages only (the CPU LibTorch
# 1.13 of Debian; helm/README.md says where a CUDA image stands).
#
#   docker build -t streamrec:0.1.0 .
#
# The build stage runs `scripts/dev.sh install`, the same package list and CMake build
# as a developer's `scripts/dev.sh build`, without tests and benchmarks. The runtime
# stage installs the packages that stage listed (those of the libraries the two
# executables link, and OpenBLAS for LibTorch) and fails if a library is missing.
FROM debian:12-slim AS build
WORKDIR /src
COPY . .
RUN STREAMREC_BUILD_DIR=/tmp/build-image bash scripts/dev.sh install /opt/streamrec \
    && rm -rf /tmp/build-image /root/.cache/ccache

FROM debian:12-slim
COPY --from=build /opt/streamrec /opt/streamrec
RUN apt-get update -qq \
    && xargs -a /opt/streamrec/share/streamrec/runtime-packages.txt \
         apt-get install -y -qq --no-install-recommends \
    && rm -rf /var/lib/apt/lists/* \
    && if ldd /opt/streamrec/bin/streamrec /opt/streamrec/bin/streamrec-model | grep 'not found'; then exit 1; fi \
    && /opt/streamrec/bin/streamrec --version \
    && useradd --uid 10001 --user-group --no-create-home --home-dir /var/lib/streamrec \
         --shell /usr/sbin/nologin streamrec \
    && mkdir -p /var/lib/streamrec /var/lib/streamrec-models \
    && chown streamrec:streamrec /var/lib/streamrec /var/lib/streamrec-models
ENV PATH=/opt/streamrec/bin:$PATH
USER 10001:10001
WORKDIR /var/lib/streamrec
# Metrics, stage probes (--health), serving's HTTP API: the chart's defaults.
EXPOSE 9464 8081 8080
ENTRYPOINT ["/opt/streamrec/bin/streamrec"]
CMD ["--help"]
