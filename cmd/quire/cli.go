package main

import "context"

// Placeholders until the client commands land.

func runTenant(ctx context.Context, args []string) error     { return usageError{"not implemented"} }
func runKey(ctx context.Context, args []string) error        { return usageError{"not implemented"} }
func runCollection(ctx context.Context, args []string) error { return usageError{"not implemented"} }
func runDoc(ctx context.Context, args []string) error        { return usageError{"not implemented"} }
