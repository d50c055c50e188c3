from einops import rearrange


def split_heads(x, n_head):
    return rearrange(x, "b t (h d) -> b h t d", h=n_head)


def merge_heads(x):
    return rearrange(x, "b h t d -> b t (h d)")
