"""e08 (bonus) — fast generation with a key/value cache.

e07's generate runs the whole sequence through the model for every new token, so the n-th token
costs n times the work of the first. But in a causal model the keys and values of a position never
change once computed: later tokens only add rows. A key/value cache keeps them: the prompt goes
through the model once (the "prefill"), filling the cache of every layer; after that each new token
goes through the model *alone* (its own position only), computes its query, key and value, appends
its key and value to the cache and attends to all of them. Every layer's projections and MLP then
cost the same for every token; only the attention over the cache grows with the sequence.

Your generate_cached must give exactly the tokens of your e07 generate (greedy, and sampling with
a generator seeded alike) and, greedy, those of Hugging Face's cached generation on the same
weights; the checks also count the work (floating-point operations, not time) of each new token.

Check with: nox -s check -- e08          Hints: nox -s hint -- e08
Builds on: e06 (your GPT2: its wte, wpe, h[i].ln_1 / attn.c_attn / attn.c_proj / ln_2 / mlp, ln_f,
lm_head), e07 (top_k_filter, top_p_filter and how generate chooses a token), e03 (split_heads,
merge_heads).

Español: el generate de e07 pasa la secuencia entera por el modelo para cada token nuevo: el token
n-ésimo cuesta n veces el primero. Pero en un modelo causal las claves y valores de una posición no
cambian una vez calculados. Una caché de claves y valores los guarda: el prompt pasa una vez por el
modelo (el "prefill") y llena la caché de cada capa; después cada token nuevo pasa *solo* (solo su
posición), calcula su query, key y value, añade su key y su value a la caché y atiende a todas.
Las proyecciones y el MLP cuestan lo mismo para cada token; solo la atención sobre la caché crece
con la secuencia. generate_cached debe dar exactamente los tokens de tu generate de e07 (voraz y
con muestreo con un generador con la misma semilla) y, en voraz, los de la generación con caché
de Hugging Face; los tests cuentan además el trabajo (operaciones en coma flotante, no tiempo) de
cada token nuevo.
"""

import torch

from .e03_heads import merge_heads, split_heads  # noqa: F401  (yours, from e03)
from .e07_generate import top_k_filter, top_p_filter  # noqa: F401  (yours, from e07)


class KVCache:
    """The keys and values of every layer, for all the positions seen so far.

    KVCache(n_layer): an empty cache, one slot per layer.
    update(layer, k, v): k and v are (B, nh, T, hs), the keys and values of T new positions in that
        layer. Append them after the ones the layer already holds (along the positions axis, dim 2),
        keep the result, and return every key and value of the layer so far:
        (B, nh, length + T, hs) each, the old positions first.
    length: a property, the number of positions layer 0 holds (0 for a new cache). A forward pass
        updates layer 0 first, so read it *before* the pass when you need the position of the new
        tokens.

    Traps: concatenate old then new; store the concatenation (the next update must find it); append
    once per update; one slot per layer (`[None] * n_layer` is fine, the layers must not share one
    tensor or one list).

    Español: las claves y valores de cada capa para todas las posiciones vistas. KVCache(n_layer)
    crea una caché vacía. update(layer, k, v), con k y v de forma (B, nh, T, hs): añade las T
    posiciones nuevas detrás de las que ya tiene la capa (eje de posiciones, dim 2), guarda el
    resultado y devuelve todas las claves y valores de la capa, (B, nh, length + T, hs), las viejas
    primero. length: una propiedad, cuántas posiciones tiene la capa 0 (0 si está vacía); léela
    *antes* de un pase hacia delante. Trampas: viejas y luego nuevas; guarda la concatenación; añade
    una sola vez por update; una entrada por capa.
    """

    def __init__(self, n_layer: int):
        raise NotImplementedError("e08: KVCache.__init__ is not written yet")

    @property
    def length(self) -> int:
        raise NotImplementedError("e08: KVCache.length is not written yet")

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError("e08: KVCache.update is not written yet")


def attention_step(attn, x: torch.Tensor, cache: KVCache, layer: int, n_head: int) -> torch.Tensor:
    """GPT-2's attention for T new positions, over the cached positions and themselves.

    attn: your CausalSelfAttention (e04) of that layer; use its c_attn and c_proj.
    x: (B, T, C), the new positions only (already through ln_1); the cache holds the `past`
        positions before them. Returns (B, T, C), what attn(whole sequence) gives at those positions.
        q, k, v = c_attn(x) split in three, each split into heads       (B, nh, T, hs)
        k, v = cache.update(layer, k, v)                                (B, nh, L, hs), L = past + T
        scores = q @ k^T / sqrt(hs)                                     (B, nh, T, L)
        new position i sits at past + i: it sees the keys 0 .. past + i, -inf on the others
        y = c_proj(merge_heads(softmax(scores) @ v))                    (B, T, C)
    Generation runs in eval(): no dropout here.

    Traps: the T new positions are the *last* T rows of an L x L causal mask, not the first T rows
    (a one-token step sees every cached key; mask[:T, :L] would show it only the first one). In the
    prefill (past = 0, T > 1) the mask is the usual triangle.

    Español: la atención de GPT-2 para T posiciones nuevas, sobre las posiciones de la caché y sobre
    ellas mismas. attn es tu CausalSelfAttention (e04) de esa capa (usa c_attn y c_proj). x: (B, T,
    C), solo las posiciones nuevas (ya pasadas por ln_1). Devuelve (B, T, C), lo que daría attn con
    la secuencia entera en esas posiciones. La posición nueva i está en past + i y ve las claves
    0 .. past + i. Trampa: las T posiciones nuevas son las *últimas* T filas de la máscara causal
    L x L, no las primeras (un paso de un token ve todas las claves de la caché).
    """
    raise NotImplementedError("e08: attention_step is not written yet")


def forward_cached(model, idx: torch.Tensor, cache: KVCache) -> torch.Tensor:
    """Your GPT2's forward pass for new tokens only, reading and filling the cache.

    model: your GPT2 (e06), in eval(). idx: (B, T), the new tokens; they follow the cache.length
    tokens the cache already holds. Returns the logits of the new tokens, (B, T, V): the same as
    model(whole sequence)[:, past:past + T]. Use the model's own modules, in GPT-2's order:
        past = cache.length; x = wte(idx) + wpe(positions past .. past + T - 1)
        for each layer i: x = x + attention_step(h[i].attn, h[i].ln_1(x), cache, i, n_head)
                          x = x + h[i].mlp(h[i].ln_2(x))
        logits = lm_head(ln_f(x))

    Traps: the positions of the new tokens start at past, not at 0 and not at past + 1; read
    cache.length before layer 0 updates it.

    Español: el pase hacia delante de tu GPT2 solo para tokens nuevos, leyendo y llenando la caché.
    idx: (B, T), los tokens nuevos, que siguen a los cache.length tokens de la caché. Devuelve sus
    logits, (B, T, V), lo mismo que model(secuencia entera)[:, past:past + T]. Usa los módulos del
    modelo en el orden de GPT-2 (wte + wpe de las posiciones past .. past + T - 1, los bloques con
    attention_step, ln_f, lm_head). Trampas: las posiciones empiezan en past, no en 0 ni en past + 1;
    lee cache.length antes de que la capa 0 la actualice.
    """
    raise NotImplementedError("e08: forward_cached is not written yet")


def generate_cached(model, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                    top_k: int | None = None, top_p: float | None = None,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """e07's generate with a cache: the same tokens, with constant work per new token.

    model: your GPT2 (e06). idx: (B, T). Returns (B, T + max_new_tokens), idx then the new tokens.
    Run without gradients (torch.no_grad()). With a new KVCache(model.config.n_layer):
        the first pass reads the whole prompt: logits = forward_cached(model, idx, cache)[:, -1, :]
        choose a token from the logits exactly as your e07 generate does (temperature == 0: argmax;
            else logits / temperature, top_k_filter, top_p_filter, softmax, torch.multinomial with
            `generator`: the same random draws in the same order, since the checks compare with your
            generate seeded alike), append it, and feed *only that token* to the next pass.
    No context cropping: when T + max_new_tokens > model.config.n_positions, raise ValueError
    saying so, with n_positions in the message.

    Traps: forgetting the prefill (the prompt must go in, all of it, before the first new token);
    running the whole sequence again each step (right tokens, but the checks count the work: each
    new token must cost the same, apart from the attention over the cache); drawing random numbers
    in another order than generate does (then seeded sampling gives other tokens).

    Español: el generate de e07 con caché: los mismos tokens y trabajo constante por token nuevo.
    Devuelve (B, T + max_new_tokens). Sin gradientes. Con un KVCache(model.config.n_layer) nuevo: el
    primer pase lee el prompt entero; elige el token como tu generate de e07 (temperature == 0:
    argmax; si no, logits / temperature, top_k_filter, top_p_filter, softmax, torch.multinomial con
    `generator`), añádelo y pasa *solo ese token* al siguiente pase, con la misma caché. Sin recorte
    de contexto: si T + max_new_tokens > n_positions, lanza ValueError que diga n_positions.
    Trampas: olvidar el prefill; volver a pasar la secuencia entera en cada paso (los tests cuentan
    el trabajo); sacar números aleatorios en otro orden que generate.
    """
    raise NotImplementedError("e08: generate_cached is not written yet")
