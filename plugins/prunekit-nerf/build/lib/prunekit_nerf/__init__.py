"""The NeRF target for prunekit (Mildenhall et al., ECCV 2020): field, rays, sampling, rendering, data, training."""
