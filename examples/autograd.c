/* autograd.c - the smallest complete use of irontensor.h: a linear layer, a loss, backward, and a
   gradient checked by hand.
     cc -O2 -std=c99 -I. examples/autograd.c -o build/autograd -lm -lpthread && ./build/autograd */
#define IRONTENSOR_IMPLEMENTATION
#include "irontensor.h"
#include <stdio.h>

int main(void) {
    float inputs[6] = {1, 2, 3, 4, 5, 6};
    it_context *ctx;
    it_graph *g;
    it_tensor *w, *x, *y, *loss;
    double by_hand = 0.0;
    int b, k;

    if (it_context_create(NULL, &ctx) != IT_OK) return 1;
    w = it_param(ctx, "w", 2, (int[]){4, 3});       /* weights [out=4, in=3] */
    g = it_graph_create(ctx);
    x = it_input(g, "x", IT_F32, 2, (int[]){2, 3}); /* a batch of 2 inputs */
    y = it_matmul(g, x, w, 0, 1);                   /* y = x @ w^T: [2, 4] */
    loss = it_mean(g, it_mul(g, y, y));             /* mean of squares */
    it_graph_backward(g, loss);                     /* derive the backward graph once */
    if (it_graph_plan(g) != IT_OK) return 1;        /* lay out memory once */
    it_param_init_normal(ctx, 0.5f, 1234);
    memcpy(it_data(x), inputs, sizeof inputs);
    it_zero_grads(ctx);
    it_graph_run(g, IT_RUN_FORWARD_BACKWARD);

    /* dL/dw[0][0] = sum_b 2 y[b][0] x[b][0] / 8 */
    for (b = 0; b < 2; b++) {
        double yb = 0.0;
        for (k = 0; k < 3; k++) yb += inputs[b * 3 + k] * it_data(w)[k];
        by_hand += 2.0 * yb * inputs[b * 3] / 8.0;
    }
    printf("loss %.6f\ndL/dw[0][0] = %.6f (by hand: %.6f)\n", it_data(loss)[0], it_grad(w)[0], by_hand);
    it_graph_print(g);
    it_context_destroy(ctx);
    return 0;
}
